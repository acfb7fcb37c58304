/**
 * The local Salesforce stand-in (contracts §7): OAuth 2.0 web-server flow, REST API
 * (describe, SOQL, sObject Collections, limits), Bulk API 2.0 query, the Streaming API with
 * Change Data Capture over CometD, and the admin API, for two orgs (or `orgs`), in memory.
 * `createSalesforceSandbox()` builds it; `start()` listens (default http://127.0.0.1:8081).
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { registerAdminRoutes, applyFault } from './admin-routes.ts'
import { registerRestApi } from './api.ts'
import { FaultSchema, createFaultBook, type FaultInput } from './faults.ts'
import { createBulk2Jobs, type Bulk2Options } from './bulk2.ts'
import { createCdcPublisher, createCdcSelection } from './cdc.ts'
import { createStreaming, type StreamingOptions } from './cometd.ts'
import { createEventBus, type EventBus, type RetentionWindow } from './event-bus.ts'
import { createApiUsage } from './limits.ts'
import { createOAuthState } from './oauth.ts'
import { registerOAuthRoutes } from './oauth-routes.ts'
import { CONNECTED_APP, createOrgDirectory, ORGS } from './orgs.ts'
import { createQueryCursors } from './query-routes.ts'
import { createRecordStore, type ChangeListener, type RecordStore } from './records.ts'

export type { ChangeEvent, ChangeListener, Caller, ChangeType } from './records.ts'
export { FAULT_KINDS } from './faults.ts'

export interface SalesforceSandboxOptions {
  /** Default 8081; 0 = a random free port. */
  port?: number
  /** Default 127.0.0.1. */
  host?: string
  /**
   * How many orgs exist (1…999). Default 2. Org N ≥ 3 has the API user
   * `integration@orgN.example.com` and the UI user `admin@orgN.example.com` (password `password`).
   */
  orgs?: number
  /** Request and lifecycle logs; none when omitted or false. */
  logger?: Logger | false
  /** Access-token lifetime. Default 7200 (2 hours). */
  tokenTtlSeconds?: number
  /** `DailyApiRequests` allocation of each org. Default 100000. */
  dailyApiRequests?: number
  /** Streaming API (CometD) settings; see `docs/sandbox-salesforce.md`. */
  streaming?: Partial<StreamingOptions> & {
    /** Replay retention per channel. Default 100000 events and 72 hours. */
    retention?: Partial<RetentionWindow>
  }
  /** Bulk API 2.0: `pageSize` (50000), least `queuedMs` / `processingMs` in a state (0). */
  bulk?: Partial<Bulk2Options>
}

export const STREAMING_DEFAULTS: StreamingOptions & { retention: RetentionWindow } = {
  connectTimeoutMs: 110_000,
  maxIntervalMs: 40_000,
  maxConcurrentClients: 2000,
  dailyDeliveredEvents: 10_000_000,
  maxEventsPerConnect: 10_000,
  retention: { maxEvents: 100_000, maxAgeMs: 72 * 3_600_000 },
}

export interface SalesforceSandbox {
  /** Base URL once started, e.g. http://127.0.0.1:8081 (login URL and instance URL alike). */
  readonly url: string
  /** Listen; returns the URL. Idempotent. */
  start(): Promise<string>
  /** Stop listening (state is kept; `start` again serves it). Idempotent. */
  stop(): Promise<void>
  /** Same as `POST /__sandbox/reset`: empty both orgs and event logs, clear faults, counters, cursors and jobs. */
  reset(): void
  /** Same as `POST /__sandbox/faults`. */
  addFault(fault: FaultInput): void
  /** Committed record changes (the hook part 2's CDC publisher uses). Returns the unsubscribe. */
  onChange(listener: ChangeListener): () => void
  /** The record store, for in-process tests and part 2. */
  readonly store: RecordStore
  /** The orgs served, with their users (for banners and tests). */
  readonly orgs: readonly SandboxOrgInfo[]
}

export interface SandboxOrgInfo {
  number: number
  id: string
  name: string
  users: { id: string; username: string; password: string; role: 'api' | 'ui' }[]
  /** The user admin-API changes are made as. */
  uiUsername: string
}

/** Seeded credentials of org 1 and org 2 (a stand-in's `orgs` lists every org it serves). */
export const SANDBOX_CREDENTIALS: {
  clientId: string
  clientSecret: string
  users: { username: string; password: string; org: number; role: string }[]
} = {
  clientId: CONNECTED_APP.clientId,
  clientSecret: CONNECTED_APP.clientSecret,
  users: ORGS.flatMap((org) => org.users.map((u) => ({
    username: u.username, password: u.password, org: org.number, role: u.role === 'api' ? 'API user' : 'UI user',
  }))),
}

export function createSalesforceSandbox(options: SalesforceSandboxOptions = {}): SalesforceSandbox {
  const port = options.port ?? 8081
  const host = options.host ?? '127.0.0.1'
  const orgs = createOrgDirectory(options.orgs ?? 2)
  const store = createRecordStore()
  const oauth = createOAuthState({ tokenTtlSeconds: options.tokenTtlSeconds ?? 7200 })
  const usage = createApiUsage({ dailyApiRequests: options.dailyApiRequests ?? 100_000 })
  const faults = createFaultBook()
  const cursors = createQueryCursors()
  const streamingOptions = { ...STREAMING_DEFAULTS, ...options.streaming, retention: { ...STREAMING_DEFAULTS.retention, ...options.streaming?.retention } }
  let bus: EventBus | null = null
  const selection = createCdcSelection()
  const streaming = createStreaming({ oauth, bus: () => bus!, options: streamingOptions, orgs, selection })
  bus = createEventBus(streamingOptions.retention, (log) => streaming.wake(log))
  const events = bus
  const cdc = createCdcPublisher(events, selection)
  store.onChange(cdc.handleChange)
  const bulkJobs = createBulk2Jobs()
  const bulkOptions: Bulk2Options = { pageSize: 50_000, queuedMs: 0, processingMs: 0, ...options.bulk }
  const reset = () => {
    store.reset()
    usage.reset()
    faults.clear()
    cursors.clear()
    events.reset()
    streaming.reset()
    selection.reset()
    bulkJobs.clear()
  }

  let url = ''
  let app: FastifyInstance | null = null
  let starting: Promise<string> | null = null
  let stopping: Promise<void> | null = null

  const build = (): FastifyInstance => {
    const instance: FastifyInstance = options.logger
      ? (Fastify({ loggerInstance: options.logger as FastifyBaseLogger }) as unknown as FastifyInstance)
      : Fastify({ logger: false })
    // Clients send `Content-Type: application/json` on bodiless DELETEs too; accept that.
    instance.removeContentTypeParser('application/json')
    instance.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
      if (body === '') return done(null, undefined)
      try {
        done(null, JSON.parse(body as string))
      } catch (err) {
        done(Object.assign(err as Error, { statusCode: 400 }), undefined)
      }
    })
    instance.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)))
    })
    registerOAuthRoutes(instance, { oauth, orgs })
    registerRestApi(instance, { store, oauth, usage, faults, cursors, bulkJobs, bulkOptions, streamingUsage: (orgId) => streaming.usage(orgId) })
    streaming.register(instance)
    registerAdminRoutes(instance, { store, oauth, usage, faults, reset, streaming, bus: events, cdc, selection, orgs })
    return instance
  }

  return {
    get url() {
      return url
    },
    store,
    reset,
    addFault: (fault) => void applyFault(FaultSchema.parse(fault), { oauth, faults, streaming, bus: events, orgs }),
    orgs: orgs.list.map((org) => ({
      number: org.number, id: org.id, name: org.name, uiUsername: org.uiUser.username,
      users: org.users.map((u) => ({ id: u.id, username: u.username, password: u.password, role: u.role })),
    })),
    onChange: (listener) => store.onChange(listener),
    start() {
      starting ??= (async () => {
        await stopping
        app = build()
        await app.listen({ port, host })
        const address = app.server.address()
        const actualPort = typeof address === 'object' && address ? address.port : port
        url = `http://${host.includes(':') ? `[${host}]` : host}:${actualPort}`
        if (options.logger) options.logger.info({ url }, `Salesforce stand-in listening at ${url}`)
        return url
      })()
      return starting
    },
    async stop() {
      if (!starting) return stopping ?? undefined
      const wasStarting = starting
      stopping = (async () => {
        await wasStarting.catch(() => undefined)
        await app?.close()
        app = null
      })()
      starting = null
      await stopping
    },
  }
}
