/**
 * The whole local stack in one test process, over real HTTP: the Salesforce and Cohort
 * stand-ins, the bridge (listening on a free port so its PUBLIC_URL is known up front) with
 * a fresh SQLite file or PostgreSQL schema, and the real broker. Everything is torn down with
 * the test.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { createCohortSandbox, type CohortSandbox } from '../../sandbox/cohort/index.ts'
import { mintDashboardToken } from '../../sandbox/dashboard/token.ts'
import { createSalesforceSandbox, type SalesforceSandbox } from '../../sandbox/salesforce/index.ts'
import { buildApp } from '../../src/app.ts'
import type { Config, Env } from '../../src/config.ts'
import { createServices, type ComponentFactory, type Services } from '../../src/services.ts'
import type { Store } from '../../src/store/index.ts'
import { createLogSink, dropSchema, freePort, kafkaBrokers, postgresUrl, randomName, testConfig, type LogSink } from './index.ts'

export { freePort } from './index.ts'

export const DASHBOARD_SECRET = 'test-dashboard-secret-0123456789'
export const DASHBOARD_ORIGIN = 'http://127.0.0.1:3999'

export interface Stack {
  salesforce: SalesforceSandbox
  cohort: CohortSandbox
  app: FastifyInstance
  /** The bridge's services (composition root). */
  services: Services
  store: Store
  config: Config
  url: string
  logs: LogSink
  /** A dashboard token for a merchant (or ops). */
  token(claims: { merchantId?: string; role?: 'ops' }): Promise<string>
  /** A JSON call to the bridge with a token for `merchantId`. */
  call(method: string, path: string, options?: { merchantId?: string; body?: unknown; token?: string }): Promise<{ status: number; body: any; headers: Headers }>
  /** Build the bridge again on the same store file with other settings (key rotation, …). */
  restart(env?: Env): Promise<void>
  /** The SQLite file of the store, when the backend is SQLite. */
  sqlitePath: string | null
  schema: string | null
}

export interface StackOptions {
  backend?: 'sqlite' | 'postgres'
  env?: Env
  /** Engines the bridge runs (made from its services). */
  components?: ComponentFactory[]
}

export async function startStack(t: Test, options: StackOptions = {}): Promise<Stack> {
  const salesforce = createSalesforceSandbox({ port: 0 })
  const cohort = createCohortSandbox({ port: 0, kafka: null })
  await Promise.all([salesforce.start(), cohort.start()])
  t.teardown(() => Promise.all([salesforce.stop(), cohort.stop()]).then(() => undefined))

  const dir = mkdtempSync(join(tmpdir(), 'bridge-stack-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const backend = options.backend ?? 'sqlite'
  const sqlitePath = backend === 'sqlite' ? join(dir, 'bridge.db') : null
  const schema = backend === 'postgres' ? randomName('stack').replace(/-/g, '_') : null
  const databaseUrl = sqlitePath ? `sqlite:${sqlitePath}` : postgresUrl
  const port = await freePort()
  const logs = createLogSink('info')

  const baseEnv: Env = {
    PORT: String(port),
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    DATABASE_URL: databaseUrl,
    SALESFORCE_LOGIN_URL: salesforce.url,
    SALESFORCE_SANDBOX_LOGIN_URL: salesforce.url,
    COHORT_API_URL: cohort.url,
    DASHBOARD_JWT_SECRET: DASHBOARD_SECRET,
    DASHBOARD_ORIGIN,
    ...options.env,
  }

  let app: FastifyInstance
  let store: Store
  let services: Services
  let config: Config
  const start = async (env: Env) => {
    config = testConfig({ ...baseEnv, ...env })
    services = createServices(config, { logger: logs.logger, clientId: 'test-stack', ...(schema ? { schema } : {}) })
    store = services.store
    await store.migrate()
    app = await buildApp(services, { components: options.components ?? [] })
    await app.listen({ port, host: '127.0.0.1' })
  }
  await start({})
  t.teardown(async () => {
    await app.close()
    if (schema) await dropSchema(schema)
  })

  const url = `http://127.0.0.1:${port}`
  const stack: Stack = {
    salesforce,
    cohort,
    get app() {
      return app
    },
    get services() {
      return services
    },
    get store() {
      return store
    },
    get config() {
      return config
    },
    url,
    logs,
    sqlitePath,
    schema,
    token: (claims) => mintDashboardToken(DASHBOARD_SECRET, claims, { ttlSeconds: 600 }),
    async call(method, path, callOptions = {}) {
      const token = callOptions.token ?? (callOptions.merchantId ? await stack.token({ merchantId: callOptions.merchantId }) : undefined)
      const headers: Record<string, string> = {}
      if (token) headers.authorization = `Bearer ${token}`
      if (callOptions.body !== undefined) headers['content-type'] = 'application/json'
      const res = await fetch(`${url}${path}`, { method, headers, body: callOptions.body === undefined ? undefined : JSON.stringify(callOptions.body), redirect: 'manual' })
      const text = await res.text()
      let body: unknown = text
      try {
        body = JSON.parse(text)
      } catch {
        // HTML pages stay text
      }
      return { status: res.status, body, headers: res.headers }
    },
    async restart(env = {}) {
      await app.close()
      await start(env)
    },
  }
  return stack
}
