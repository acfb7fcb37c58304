/**
 * The benchmarks' layout with the stand-ins apart: the Salesforce and the Cohort stand-in in a
 * child process each (test/helpers/process-stack.ts `startStandIns`; they are other systems,
 * so their work must not run on the bridge's event loop), the bridge (`buildApp` with the
 * given engines) and the benchmark in this process, on the project's broker. Returns what the
 * merchant helpers (test/helpers/merchant.ts) and the benchmarks use of an in-process stack.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { mintDashboardToken } from '../sandbox/dashboard/token.ts'
import { buildApp } from '../src/app.ts'
import type { Config } from '../src/config.ts'
import { createLogger } from '../src/logger.ts'
import { createServices, type ComponentFactory, type Services } from '../src/services.ts'
import { deleteTestTopics, dropSchema, freePort, kafkaBrokers, postgresUrl, randomName, testConfig } from '../test/helpers/index.ts'
import { baseProcessEnv, startStandIns } from '../test/helpers/process-stack.ts'
import { callJson, DASHBOARD_ORIGIN, DASHBOARD_SECRET, kafkaEnvOf, kafkaNamesFor, type StackTopics } from '../test/helpers/stack.ts'

export interface BridgeBesideStandIns {
  salesforce: { url: string }
  cohort: { url: string }
  services: Services
  config: Config
  topics: StackTopics
  token(claims: { merchantId?: string; role?: 'ops' }): Promise<string>
  call(method: string, path: string, options?: { merchantId?: string; body?: unknown }): ReturnType<typeof callJson>
}

export interface BridgeBesideStandInsOptions {
  backend: 'sqlite' | 'postgres'
  /** Orgs of the Salesforce stand-in. */
  orgs: number
  components: ComponentFactory[]
  /** The Cohort stand-in publishes its user events to the bridge's Cohort events topic. */
  cohortEvents: boolean
  /** The bridge's Kafka client id. */
  clientId: string
}

export async function startBridgeBesideStandIns(t: Test, options: BridgeBesideStandInsOptions): Promise<BridgeBesideStandIns> {
  const names = kafkaNamesFor()
  // Salesforce from one child, Cohort from another (each child serves both; the other idles):
  // one stand-in's work must not delay the other's answers, as it would not in production.
  const env = { ...baseProcessEnv(), LOG_LEVEL: 'warn', SANDBOX_SALESFORCE_ORGS: String(options.orgs), KAFKA_BROKERS: kafkaBrokers.join(',') }
  const [ofSalesforce, ofCohort] = await Promise.all([
    startStandIns(t, env),
    startStandIns(t, options.cohortEvents ? { ...env, KAFKA_TOPIC_COHORT_EVENTS: names.topics.cohortEvents } : env),
  ])
  const standIns = { salesforce: ofSalesforce.salesforce, cohort: ofCohort.cohort }
  const dir = mkdtempSync(join(tmpdir(), 'bench-bridge-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const schema = options.backend === 'postgres' ? randomName('bench').replace(/-/g, '_') : null
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const config = testConfig({
    LOG_LEVEL: 'warn', PORT: String(port), PUBLIC_URL: url, DATABASE_URL: schema ? postgresUrl : `sqlite:${join(dir, 'bridge.db')}`,
    SALESFORCE_LOGIN_URL: standIns.salesforce, SALESFORCE_SANDBOX_LOGIN_URL: standIns.salesforce, COHORT_API_URL: standIns.cohort,
    DASHBOARD_JWT_SECRET: DASHBOARD_SECRET, DASHBOARD_ORIGIN, ...kafkaEnvOf(names),
  })
  const services = createServices(config, { logger: createLogger({ level: 'warn' }), clientId: options.clientId, ...(schema ? { schema } : {}) })
  await services.store.migrate()
  const app = await buildApp(services, { components: options.components })
  await app.listen({ port, host: '127.0.0.1' })
  t.teardown(async () => {
    await app.close()
    if (schema) await dropSchema(schema)
    await deleteTestTopics(Object.values(names.topics))
  })
  const token = (claims: { merchantId?: string; role?: 'ops' }) => mintDashboardToken(DASHBOARD_SECRET, claims, { ttlSeconds: 600 })
  return {
    salesforce: { url: standIns.salesforce },
    cohort: { url: standIns.cohort },
    services,
    config,
    topics: names.topics,
    token,
    call: async (method, path, callOptions = {}) =>
      callJson(url, method, path, { body: callOptions.body, token: callOptions.merchantId ? await token({ merchantId: callOptions.merchantId }) : undefined }),
  }
}
