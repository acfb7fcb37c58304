/**
 * `npm run sandbox`: the local stand-ins, standalone (also started by `npm run dev`).
 * - Salesforce on SANDBOX_SALESFORCE_PORT (8081): OAuth, REST, admin API, with
 *   SANDBOX_SALESFORCE_ORGS orgs (default 2).
 * - Cohort on SANDBOX_COHORT_PORT (8082), publishing user events to KAFKA_TOPIC_COHORT_EVENTS
 *   on KAFKA_BROKERS (the local broker is started when nothing answers), and delivering them as
 *   Standard Webhooks to SANDBOX_COHORT_WEBHOOK_URL when that is set.
 * - The dashboard page on SANDBOX_DASHBOARD_PORT (3000), talking to the bridge at PUBLIC_URL.
 */
import { DEV_WEBHOOK_SECRET } from '../src/config.ts'
import { createLogger } from '../src/logger.ts'
import { ensureKafka } from '../scripts/lib/local-stack.ts'
import { COHORT_SANDBOX_TOKEN, createCohortSandbox } from './cohort/index.ts'
import { createDashboardSandbox } from './dashboard/index.ts'
import { createSalesforceSandbox, SANDBOX_CREDENTIALS } from './salesforce/index.ts'

const env = process.env
const orgs = Number(env.SANDBOX_SALESFORCE_ORGS ?? 2)
if (!Number.isInteger(orgs) || orgs < 1 || orgs > 999) {
  process.stderr.write(`sandbox: SANDBOX_SALESFORCE_ORGS must be a whole number from 1 to 999, got "${env.SANDBOX_SALESFORCE_ORGS}"\n`)
  process.exit(1)
}
const logger = createLogger({ level: env.LOG_LEVEL ?? 'info', base: { service: 'sandbox' } })
const kafka = await ensureKafka(env.KAFKA_BROKERS ?? '127.0.0.1:9092')

const salesforce = createSalesforceSandbox({ port: Number(env.SANDBOX_SALESFORCE_PORT ?? 8081), orgs, logger: logger.child({ component: 'salesforce-sandbox' }) })
const cohort = createCohortSandbox({
  port: Number(env.SANDBOX_COHORT_PORT ?? 8082),
  logger,
  kafka: { brokers: kafka.brokers.split(','), topic: env.KAFKA_TOPIC_COHORT_EVENTS ?? 'cohort.user-events', partitions: Number(env.KAFKA_PARTITIONS ?? 6) },
  webhook: env.SANDBOX_COHORT_WEBHOOK_URL ? { url: env.SANDBOX_COHORT_WEBHOOK_URL, secret: env.COHORT_WEBHOOK_SECRET ?? DEV_WEBHOOK_SECRET } : null,
})
const cohortUrl = await cohort.start()
const dashboard = createDashboardSandbox({
  port: Number(env.SANDBOX_DASHBOARD_PORT ?? 3000),
  bridgeUrl: env.PUBLIC_URL ?? 'http://127.0.0.1:8080',
  jwtSecret: env.DASHBOARD_JWT_SECRET ?? 'dev-dashboard-secret',
  cohort: { url: cohortUrl, token: env.COHORT_API_TOKEN ?? COHORT_SANDBOX_TOKEN },
  logger,
})
const [salesforceUrl, dashboardUrl] = await Promise.all([salesforce.start(), dashboard.start()])

const shown = salesforce.orgs.slice(0, 4)
const users = shown.flatMap((o) => o.users.map((u) => `${u.username} (org ${o.number}, ${u.role === 'api' ? 'API user' : 'UI user'})`)).join(', ') +
  (salesforce.orgs.length > shown.length ? `, … up to integration@org${salesforce.orgs.length}.example.com` : '')
process.stderr.write([
  '',
  `[sandbox] Salesforce stand-in  ${salesforceUrl}   login: ${salesforceUrl}/services/oauth2/authorize?response_type=code&client_id=${SANDBOX_CREDENTIALS.clientId}&redirect_uri=http://127.0.0.1:8080/oauth/salesforce/callback`,
  `[sandbox]                      connected app ${SANDBOX_CREDENTIALS.clientId} / ${SANDBOX_CREDENTIALS.clientSecret}; ${salesforce.orgs.length} orgs; users ${users}; password "password"`,
  `[sandbox] Cohort stand-in      ${cohortUrl}   service token ${COHORT_SANDBOX_TOKEN}; admin API under /__sandbox`,
  `[sandbox] Dashboard stand-in   ${dashboardUrl}   Apps › Salesforce for merchant m_demo (?merchantId=… for another)`,
  '',
].join('\n'))

let stopping = false
const stop = async () => {
  if (stopping) return
  stopping = true
  await Promise.allSettled([dashboard.stop(), salesforce.stop(), cohort.stop()])
  kafka.stop()
  process.exit(0)
}
process.on('SIGINT', () => void stop())
process.on('SIGTERM', () => void stop())
