import { inspect } from 'node:util'
import t from 'tap'
import { loadConfig, Secret } from '../src/config.ts'
import { AppError } from '../src/errors.ts'

const prodKey = `k1:${Buffer.alloc(32, 7).toString('base64')}`
const prodEnv = {
  NODE_ENV: 'production',
  PUBLIC_URL: 'https://bridge.example.com/',
  SALESFORCE_CLIENT_ID: 'cid',
  SALESFORCE_CLIENT_SECRET: 'csecret',
  COHORT_API_URL: 'https://api.internal',
  COHORT_API_TOKEN: 'cohort-token',
  TOKEN_ENCRYPTION_KEYS: prodKey,
  DASHBOARD_JWT_SECRET: 'a-long-dashboard-secret',
  DASHBOARD_ORIGIN: 'https://dashboard.getcohort.com',
}

function configError(fn: () => unknown): AppError {
  try {
    fn()
  } catch (err) {
    if (err instanceof AppError) return err
    throw err
  }
  throw new Error('expected a config error')
}

t.test('dev: every variable has a default that points at the local stand-ins', async (t) => {
  const c = loadConfig({})
  t.equal(c.isProduction, false)
  t.equal(c.port, 8080)
  t.equal(c.host, '127.0.0.1')
  t.equal(c.metricsPort, null)
  t.equal(c.publicUrl, 'http://127.0.0.1:8080')
  t.equal(c.databaseUrl, 'sqlite:./data/bridge.db')
  t.same(c.kafka.brokers, ['127.0.0.1:9092'])
  t.same(c.kafka.topics, { cohortEvents: 'cohort.user-events', salesforceChanges: 'salesforce.changes', dlq: 'salesforce-bridge.dlq', status: 'salesforce-bridge.status' })
  t.equal(c.leaseTtlMs, 30_000)
  t.equal(c.retentionDays, 30)
  t.same(c.cdc, { resyncOverlapMs: 300_000, stallCheckMs: 900_000 })
  t.equal(c.salesforce.bulkThreshold, 50_000)
  t.equal(c.salesforce.limitsPollMs, 900_000)
  t.equal(c.kafka.partitions, 6)
  t.equal(c.salesforce.clientId, 'sandbox-client-id')
  t.equal(c.salesforce.clientSecret.reveal(), 'sandbox-client-secret')
  t.equal(c.salesforce.loginUrl, 'http://127.0.0.1:8081')
  t.equal(c.salesforce.apiVersion, '62.0')
  t.equal(c.salesforce.clientName, 'cohort-bridge')
  t.equal(c.salesforce.apiBudgetPercent, 50)
  t.equal(c.exportLingerMs, 1000)
  t.equal(c.cohort.apiUrl, 'http://127.0.0.1:8082')
  t.equal(c.cohort.apiToken.reveal(), 'sandbox-cohort-token')
  t.equal(c.tokenEncryptionKeys.length, 1)
  t.equal(Buffer.from(c.tokenEncryptionKeys[0]!.key.reveal(), 'base64').length, 32)
  t.equal(c.dashboard.origin, 'http://127.0.0.1:3000')
  t.ok(c.cohortWebhookSecret?.reveal().startsWith('whsec_'))
  t.same(c.reconcile, { cron: '0 3 * * *', timezone: 'UTC' })
  t.equal(c.logLevel, 'info')
})

t.test('production: defaults of contracts §1 and no default for any secret', async (t) => {
  const c = loadConfig(prodEnv)
  t.equal(c.isProduction, true)
  t.equal(c.host, '0.0.0.0')
  t.equal(c.kafka.partitions, 12)
  t.equal(c.salesforce.loginUrl, 'https://login.salesforce.com')
  t.equal(c.salesforce.sandboxLoginUrl, 'https://test.salesforce.com')
  t.equal(c.publicUrl, 'https://bridge.example.com', 'trailing slash removed')
  t.equal(c.cohortWebhookSecret, null, 'webhook route off unless configured')

  const err = configError(() => loadConfig({ NODE_ENV: 'production' }))
  t.equal(err.code, 'config.invalid')
  for (const name of ['PUBLIC_URL', 'SALESFORCE_CLIENT_ID', 'SALESFORCE_CLIENT_SECRET', 'COHORT_API_URL', 'COHORT_API_TOKEN', 'TOKEN_ENCRYPTION_KEYS', 'DASHBOARD_JWT_SECRET', 'DASHBOARD_ORIGIN']) {
    t.match(err.message, new RegExp(`${name}: required`), `${name} reported`)
  }
  t.notMatch(err.message, /\n/, 'one line')
})

t.test('every problem is reported at once, by variable name', async (t) => {
  const err = configError(() => loadConfig({ PORT: 'eighty', KAFKA_BROKERS: 'nohost', RECONCILE_CRON: 'every day', RECONCILE_TZ: 'Mars/Base', LOG_LEVEL: 'loud', DATABASE_URL: 'mysql://x', TOKEN_ENCRYPTION_KEYS: 'k1:short' }))
  for (const name of ['PORT', 'KAFKA_BROKERS', 'RECONCILE_CRON', 'RECONCILE_TZ', 'LOG_LEVEL', 'DATABASE_URL', 'TOKEN_ENCRYPTION_KEYS']) {
    t.match(err.message, new RegExp(`${name}:`), `${name} reported`)
  }
})

t.test('values are parsed and the result is frozen', async (t) => {
  const k2 = Buffer.alloc(32, 9).toString('base64')
  const c = loadConfig({ PORT: '9000', METRICS_PORT: '9100', KAFKA_BROKERS: 'a:1, b:2', TOKEN_ENCRYPTION_KEYS: `new:${k2},${prodKey}`, EXPORT_LINGER_MS: '250' })
  t.equal(c.port, 9000)
  t.equal(c.metricsPort, 9100)
  t.same(c.kafka.brokers, ['a:1', 'b:2'])
  t.same(c.tokenEncryptionKeys.map((k) => k.id), ['new', 'k1'], 'first key encrypts')
  t.equal(c.exportLingerMs, 250)
  t.ok(Object.isFrozen(c) && Object.isFrozen(c.kafka) && Object.isFrozen(c.kafka.brokers))
  t.throws(() => {
    ;(c as { port: number }).port = 1
  })
})

t.test('duplicate key ids and empty values', async (t) => {
  const err = configError(() => loadConfig({ TOKEN_ENCRYPTION_KEYS: `${prodKey},${prodKey}` }))
  t.match(err.message, /TOKEN_ENCRYPTION_KEYS: key id "k1" appears twice/)
  t.equal(loadConfig({ PORT: '' }).port, 8080, 'an empty string counts as unset')
})

t.test('secrets never print', async (t) => {
  const c = loadConfig(prodEnv)
  const shown = [JSON.stringify(c), inspect(c, { depth: 10 }), `${c.salesforce.clientSecret}`].join('\n')
  for (const secret of ['csecret', 'cohort-token', 'a-long-dashboard-secret', Buffer.alloc(32, 7).toString('base64')]) {
    t.notOk(shown.includes(secret), `${secret} hidden`)
  }
  t.equal(new Secret('x').reveal(), 'x')
})
