/**
 * The whole local stack in one test process, over real HTTP: the Salesforce and Cohort
 * stand-ins, the bridge (listening on a free port so its PUBLIC_URL is known up front) with
 * a fresh SQLite file or PostgreSQL schema, and the real broker. Each stack has its own random
 * topics and consumer-group prefix, and the Cohort stand-in publishes its user events to the
 * stack's cohort events topic. Everything is torn down with the test.
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
import { createLogSink, deleteTestTopics, dropSchema, freePort, kafkaBrokers, postgresUrl, randomName, testConfig, type LogSink } from './index.ts'

export { freePort } from './index.ts'

export const DASHBOARD_SECRET = 'test-dashboard-secret-0123456789'
export const DASHBOARD_ORIGIN = 'http://127.0.0.1:3999'

/** The Kafka names of one stack, random so stacks never share a topic or a group. */
export interface StackTopics {
  cohortEvents: string
  salesforceChanges: string
  dlq: string
  status: string
}

/** Random topics and group prefix, unless `env` names them. */
export function kafkaNamesFor(env: Env = {}): { topics: StackTopics; groupPrefix: string } {
  return {
    topics: {
      cohortEvents: env.KAFKA_TOPIC_COHORT_EVENTS ?? randomName('test.cohort-events'),
      salesforceChanges: env.KAFKA_TOPIC_SALESFORCE_CHANGES ?? randomName('test.salesforce-changes'),
      dlq: env.KAFKA_TOPIC_DLQ ?? randomName('test.dlq'),
      status: env.KAFKA_TOPIC_STATUS ?? randomName('test.status'),
    },
    groupPrefix: env.KAFKA_GROUP_PREFIX ?? randomName('test.bridge'),
  }
}

/** The environment variables naming those topics and the group prefix. */
export function kafkaEnvOf(names: { topics: StackTopics; groupPrefix: string }): Env {
  return {
    KAFKA_TOPIC_COHORT_EVENTS: names.topics.cohortEvents,
    KAFKA_TOPIC_SALESFORCE_CHANGES: names.topics.salesforceChanges,
    KAFKA_TOPIC_DLQ: names.topics.dlq,
    KAFKA_TOPIC_STATUS: names.topics.status,
    KAFKA_GROUP_PREFIX: names.groupPrefix,
  }
}

/** A JSON call to the bridge at `url`; HTML pages come back as text. */
export async function callJson(url: string, method: string, path: string, options: { body?: unknown; token?: string | undefined } = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const headers: Record<string, string> = {}
  if (options.token) headers.authorization = `Bearer ${options.token}`
  if (options.body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(`${url}${path}`, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body), redirect: 'manual' })
  const text = await res.text()
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {
    // HTML pages stay text
  }
  return { status: res.status, body, headers: res.headers }
}

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
  /** The stack's own topics (in the bridge's env; the Cohort stand-in publishes to `cohortEvents`). */
  topics: StackTopics
  /** The stack's `KAFKA_GROUP_PREFIX`. */
  groupPrefix: string
}

export interface StackOptions {
  backend?: 'sqlite' | 'postgres'
  env?: Env
  /** Engines the bridge runs (made from its services). */
  components?: ComponentFactory[]
  /** The Cohort stand-in publishes its user events to the stack's cohort events topic (created if missing). Default true. */
  cohortEvents?: boolean
  /** Orgs of the Salesforce stand-in. Default 2. */
  salesforceOrgs?: number
}

export async function startStack(t: Test, options: StackOptions = {}): Promise<Stack> {
  const names = kafkaNamesFor(options.env)
  const salesforce = createSalesforceSandbox({ port: 0, orgs: options.salesforceOrgs ?? 2 })
  const cohort = createCohortSandbox({
    port: 0,
    kafka: options.cohortEvents === false ? null : { brokers: kafkaBrokers, topic: names.topics.cohortEvents, partitions: testConfig(options.env).kafka.partitions },
  })
  // Registered before starting, so a half-started pair is stopped too (stop closes the Cohort producer).
  t.teardown(() => Promise.all([salesforce.stop(), cohort.stop()]).then(() => undefined))
  await Promise.all([salesforce.start(), cohort.start()])

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
    ...kafkaEnvOf(names),
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
    await deleteTestTopics(Object.values(names.topics))
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
    topics: names.topics,
    groupPrefix: names.groupPrefix,
    token: (claims) => mintDashboardToken(DASHBOARD_SECRET, claims, { ttlSeconds: 600 }),
    async call(method, path, callOptions = {}) {
      const token = callOptions.token ?? (callOptions.merchantId ? await stack.token({ merchantId: callOptions.merchantId }) : undefined)
      return callJson(url, method, path, { body: callOptions.body, token })
    },
    async restart(env = {}) {
      await app.close()
      await start(env)
    },
  }
  return stack
}
