/**
 * A stand-in for Cohort's dashboard (Apps › Salesforce), at http://127.0.0.1:3000 in dev:
 * one static page (no build step) that drives the bridge's real settings API. Its small
 * server plays the dashboard's backend: it mints the short-lived dashboard JWT and lists the
 * merchant's Cohort user properties (for export mappings).
 */
import { readFile } from 'node:fs/promises'
import Fastify, { LogController, type FastifyBaseLogger } from 'fastify'
import { createLogger, type Logger } from '../../src/logger.ts'
import { mintDashboardToken } from './token.ts'

export interface DashboardSandboxOptions {
  port?: number
  host?: string
  /** The bridge the page talks to (may be set after start with setBridgeUrl). */
  bridgeUrl?: string
  jwtSecret: string
  cohort: { url: string; token: string }
  /** Merchant shown when the page has no ?merchantId=. Default `m_demo`. */
  defaultMerchantId?: string
  logger?: Logger
}

export interface DashboardSandbox {
  readonly url: string
  start(): Promise<string>
  stop(): Promise<void>
  setBridgeUrl(url: string): void
}

const PUBLIC = new URL('./public/', import.meta.url)
const FILES: Record<string, string> = { '/': 'index.html', '/app.js': 'app.js', '/style.css': 'style.css' }
const TYPES: Record<string, string> = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' }

export function createDashboardSandbox(options: DashboardSandboxOptions): DashboardSandbox {
  const logger = (options.logger ?? createLogger({ level: 'warn' })).child({ component: 'dashboard-sandbox' })
  let bridgeUrl = options.bridgeUrl ?? 'http://127.0.0.1:8080'
  const app = Fastify({ loggerInstance: logger as FastifyBaseLogger, logController: new LogController({ disableRequestLogging: true }) })

  for (const [route, file] of Object.entries(FILES)) {
    app.get(route, async (_request, reply) => {
      const body = await readFile(new URL(file, PUBLIC), 'utf8')
      return reply.type(TYPES[file.split('.').pop() ?? 'html'] ?? 'text/plain').header('cache-control', 'no-store').send(body)
    })
  }

  app.get('/config.json', async () => ({ bridgeUrl, defaultMerchantId: options.defaultMerchantId ?? 'm_demo' }))

  app.post<{ Body: { merchantId?: string } }>('/token', async (request, reply) => {
    const merchantId = request.body?.merchantId
    if (!merchantId) return reply.code(400).send({ error: 'merchantId is required' })
    // The merchant must exist at Cohort for its properties to be created.
    await fetch(`${options.cohort.url}/__sandbox/merchants`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: merchantId }) }).catch(() => undefined)
    return { token: await mintDashboardToken(options.jwtSecret, { merchantId, sub: `dashboard-user@${merchantId}` }, { ttlSeconds: 600 }) }
  })

  app.get<{ Querystring: { merchantId?: string } }>('/cohort/properties', async (request, reply) => {
    const merchantId = request.query.merchantId ?? ''
    const res = await fetch(`${options.cohort.url}/internal/merchants/${encodeURIComponent(merchantId)}/user-properties`, { headers: { authorization: `Bearer ${options.cohort.token}` } })
    return reply.code(res.status).send(await res.json())
  })

  let url = ''
  return {
    get url() {
      return url
    },
    async start() {
      url = await app.listen({ port: options.port ?? 3000, host: options.host ?? '127.0.0.1' })
      return url
    },
    stop: () => app.close(),
    setBridgeUrl(next) {
      bridgeUrl = next
    },
  }
}
