/**
 * The only reader of the environment. One zod schema per variable of docs/configuration.md;
 * every problem is reported at once, by variable name; the result is frozen.
 *
 * "Dev" means NODE_ENV is not `production`: there every variable has a default that talks to
 * the local stand-ins, so `npm run dev` needs no setting. In production no secret has one.
 */
import { Cron } from 'croner'
import { z } from 'zod'
import { AppError } from './errors.ts'

/** A secret value that never prints: JSON, util.inspect and template strings show `[redacted]`. */
export class Secret {
  readonly #value: string
  constructor(value: string) {
    this.#value = value
  }
  reveal(): string {
    return this.#value
  }
  toJSON(): string {
    return '[redacted]'
  }
  toString(): string {
    return '[redacted]'
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return 'Secret([redacted])'
  }
}

export interface EncryptionKey {
  id: string
  key: Secret
}

/** The validated configuration. Names follow docs/configuration.md; defaults noted there. */
export interface Config {
  nodeEnv: string
  isProduction: boolean
  port: number
  host: string
  metricsPort: number | null
  publicUrl: string
  databaseUrl: string
  kafka: {
    brokers: string[]
    topics: { cohortEvents: string; salesforceChanges: string; dlq: string; status: string }
    groupPrefix: string
    partitions: number
  }
  salesforce: {
    clientId: string
    clientSecret: Secret
    loginUrl: string
    sandboxLoginUrl: string
    apiVersion: string
    clientName: string
    apiBudgetPercent: number
    /** A load or resync of more records than this uses Bulk API 2.0. */
    bulkThreshold: number
    /** How often `/limits` may be read per org while paused on an allocation. */
    limitsPollMs: number
  }
  cdc: { resyncOverlapMs: number; stallCheckMs: number }
  /** How long a `failed` CDC subscription (CDC not enabled, no access) waits before it is tried again. */
  cdcFailedRetryMs: number
  exportLingerMs: number
  /** A merchant's stream or a run changes hands this long after its holder stops renewing. */
  leaseTtlMs: number
  /** How often each instance reads the settings change feed. */
  settingsPollMs: number
  retentionDays: number
  cohort: { apiUrl: string; apiToken: Secret }
  /** The first key encrypts; all decrypt (rotation). */
  tokenEncryptionKeys: EncryptionKey[]
  dashboard: { jwtSecret: Secret; origin: string }
  cohortWebhookSecret: Secret | null
  reconcile: { cron: string; timezone: string }
  logLevel: string
}

export type Env = Record<string, string | undefined>

// Fixed dev-only values: published in the repository, so never valid in production.
const DEV_TOKEN_KEY = `dev:${Buffer.from('salesforce-bridge-dev-key-000000').toString('base64')}`
/** The dev default of COHORT_WEBHOOK_SECRET, shared with the Cohort stand-in. */
export const DEV_WEBHOOK_SECRET = `whsec_${Buffer.from('salesforce-bridge-dev-webhook-secret').toString('base64')}`

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

const port = z.coerce.number<string>().int().min(0).max(65535)
const url = z.url({ protocol: /^https?$/ }).transform((u) => u.replace(/\/+$/, ''))
const nonEmpty = z.string().trim().min(1)

const brokers = nonEmpty.transform((s, ctx) => {
  const list = s.split(',').map((b) => b.trim()).filter(Boolean)
  for (const b of list) {
    if (!/^[^:\s]+:\d{1,5}$/.test(b)) ctx.addIssue({ code: 'custom', message: `"${b}" is not host:port` })
  }
  return list
})

const encryptionKeys = nonEmpty.transform((s, ctx) => {
  const keys: EncryptionKey[] = []
  for (const part of s.split(',').map((p) => p.trim()).filter(Boolean)) {
    const sep = part.indexOf(':')
    const id = sep > 0 ? part.slice(0, sep) : ''
    const raw = sep > 0 ? Buffer.from(part.slice(sep + 1), 'base64') : Buffer.alloc(0)
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(id) || raw.length !== 32) {
      ctx.addIssue({ code: 'custom', message: 'each key must be id:base64 of 32 bytes (id: letters, digits, _ or -)' })
      return z.NEVER
    }
    if (keys.some((k) => k.id === id)) ctx.addIssue({ code: 'custom', message: `key id "${id}" appears twice` })
    keys.push({ id, key: new Secret(raw.toString('base64')) })
  }
  if (keys.length === 0) ctx.addIssue({ code: 'custom', message: 'at least one key is required' })
  return keys
})

const cron = nonEmpty.refine((expr) => {
  try {
    new Cron(expr, { paused: true }).stop()
    return true
  } catch {
    return false
  }
}, 'not a valid cron expression')

const timezone = nonEmpty.refine((tz) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz })
    return true
  } catch {
    return false
  }
}, 'not a known IANA time zone')

const webhookSecret = nonEmpty.refine((s) => /^whsec_[A-Za-z0-9+/=]+$/.test(s), 'must look like whsec_<base64>')

/** Builds the schema of one mode; `dev` decides defaults and what is required. */
function makeSchema(dev: boolean) {
  const devDefault = <T extends z.ZodType<unknown, string>>(schema: T, value: string) => (dev ? z.string().default(value).pipe(schema) : schema)
  return z.object({
    NODE_ENV: z.string().default('development'),
    PORT: z.string().default('8080').pipe(port),
    HOST: z.string().default(dev ? '127.0.0.1' : '0.0.0.0').pipe(nonEmpty),
    METRICS_PORT: port.optional(),
    PUBLIC_URL: devDefault(url, 'http://127.0.0.1:8080'),
    DATABASE_URL: z.string().default('sqlite:./data/bridge.db').pipe(nonEmpty.regex(/^(sqlite:.+|postgres(ql)?:\/\/.+)$/, 'must be sqlite:<path> or postgres://…')),
    KAFKA_BROKERS: z.string().default('127.0.0.1:9092').pipe(brokers),
    KAFKA_TOPIC_COHORT_EVENTS: z.string().default('cohort.user-events').pipe(nonEmpty),
    KAFKA_TOPIC_SALESFORCE_CHANGES: z.string().default('salesforce.changes').pipe(nonEmpty),
    KAFKA_TOPIC_DLQ: z.string().default('salesforce-bridge.dlq').pipe(nonEmpty),
    KAFKA_TOPIC_STATUS: z.string().default('salesforce-bridge.status').pipe(nonEmpty),
    KAFKA_GROUP_PREFIX: z.string().default('salesforce-bridge').pipe(nonEmpty),
    KAFKA_PARTITIONS: z.string().default(dev ? '6' : '12').pipe(z.coerce.number<string>().int().min(1).max(1000)),
    SALESFORCE_CLIENT_ID: devDefault(nonEmpty, 'sandbox-client-id'),
    SALESFORCE_CLIENT_SECRET: devDefault(nonEmpty, 'sandbox-client-secret'),
    SALESFORCE_LOGIN_URL: z.string().default(dev ? 'http://127.0.0.1:8081' : 'https://login.salesforce.com').pipe(url),
    SALESFORCE_SANDBOX_LOGIN_URL: z.string().default(dev ? 'http://127.0.0.1:8081' : 'https://test.salesforce.com').pipe(url),
    SALESFORCE_API_VERSION: z.string().default('62.0').pipe(z.string().regex(/^\d{2,3}\.0$/, 'must look like 62.0')),
    SALESFORCE_CLIENT_NAME: z.string().default('cohort-bridge').pipe(z.string().regex(/^[A-Za-z0-9_-]{1,40}$/, 'letters, digits, _ or -, at most 40')),
    SALESFORCE_API_BUDGET_PERCENT: z.string().default('50').pipe(z.coerce.number<string>().int().min(1).max(100)),
    SALESFORCE_BULK_THRESHOLD: z.string().default('50000').pipe(z.coerce.number<string>().int().min(1).max(100000000)),
    SALESFORCE_LIMITS_POLL_MS: z.string().default('900000').pipe(z.coerce.number<string>().int().min(100).max(86400000)),
    CDC_RESYNC_OVERLAP_MS: z.string().default('300000').pipe(z.coerce.number<string>().int().min(0).max(86400000)),
    CDC_STALL_CHECK_MS: z.string().default('900000').pipe(z.coerce.number<string>().int().min(100).max(86400000)),
    CDC_FAILED_RETRY_MS: z.string().default('300000').pipe(z.coerce.number<string>().int().min(100).max(86400000)),
    LEASE_TTL_MS: z.string().default('30000').pipe(z.coerce.number<string>().int().min(500).max(3600000)),
    SETTINGS_POLL_MS: z.string().default('2000').pipe(z.coerce.number<string>().int().min(50).max(60000)),
    RETENTION_DAYS: z.string().default('30').pipe(z.coerce.number<string>().int().min(1).max(3650)),
    EXPORT_LINGER_MS: z.string().default('1000').pipe(z.coerce.number<string>().int().min(0).max(600_000)),
    COHORT_API_URL: devDefault(url, 'http://127.0.0.1:8082'),
    COHORT_API_TOKEN: devDefault(nonEmpty, 'sandbox-cohort-token'),
    TOKEN_ENCRYPTION_KEYS: devDefault(encryptionKeys, DEV_TOKEN_KEY),
    DASHBOARD_JWT_SECRET: devDefault(nonEmpty.min(16, 'at least 16 characters'), 'dev-dashboard-secret'),
    DASHBOARD_ORIGIN: devDefault(url, 'http://127.0.0.1:3000'),
    COHORT_WEBHOOK_SECRET: dev ? z.string().default(DEV_WEBHOOK_SECRET).pipe(webhookSecret) : webhookSecret.optional(),
    RECONCILE_CRON: z.string().default('0 3 * * *').pipe(cron),
    RECONCILE_TZ: z.string().default('UTC').pipe(timezone),
    LOG_LEVEL: z.string().default('info').pipe(z.enum(LOG_LEVELS)),
  })
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !(value instanceof Secret) && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const v of Object.values(value)) deepFreeze(v)
  }
  return value
}

/**
 * Validate `env` and return the frozen configuration. Throws one `config.invalid` AppError
 * whose message names every bad variable (`PORT: …; SALESFORCE_CLIENT_ID: required`).
 */
export function loadConfig(env: Env = process.env): Config {
  // Empty strings count as unset, as in most deployment tools.
  const clean = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''))
  const dev = clean.NODE_ENV !== 'production'
  const parsed = makeSchema(dev).safeParse(clean)
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? 'environment')
      const message = issue.code === 'invalid_type' && clean[name] === undefined ? 'required' : issue.message
      return `${name}: ${message}`
    })
    throw new AppError('config.invalid', `invalid configuration: ${[...new Set(problems)].join('; ')}`)
  }
  const e = parsed.data
  const config: Config = {
    nodeEnv: e.NODE_ENV,
    isProduction: !dev,
    port: e.PORT,
    host: e.HOST,
    metricsPort: e.METRICS_PORT ?? null,
    publicUrl: e.PUBLIC_URL,
    databaseUrl: e.DATABASE_URL,
    kafka: {
      brokers: e.KAFKA_BROKERS,
      topics: { cohortEvents: e.KAFKA_TOPIC_COHORT_EVENTS, salesforceChanges: e.KAFKA_TOPIC_SALESFORCE_CHANGES, dlq: e.KAFKA_TOPIC_DLQ, status: e.KAFKA_TOPIC_STATUS },
      groupPrefix: e.KAFKA_GROUP_PREFIX,
      partitions: e.KAFKA_PARTITIONS,
    },
    salesforce: {
      clientId: e.SALESFORCE_CLIENT_ID,
      clientSecret: new Secret(e.SALESFORCE_CLIENT_SECRET),
      loginUrl: e.SALESFORCE_LOGIN_URL,
      sandboxLoginUrl: e.SALESFORCE_SANDBOX_LOGIN_URL,
      apiVersion: e.SALESFORCE_API_VERSION,
      clientName: e.SALESFORCE_CLIENT_NAME,
      apiBudgetPercent: e.SALESFORCE_API_BUDGET_PERCENT,
      bulkThreshold: e.SALESFORCE_BULK_THRESHOLD,
      limitsPollMs: e.SALESFORCE_LIMITS_POLL_MS,
    },
    cdc: { resyncOverlapMs: e.CDC_RESYNC_OVERLAP_MS, stallCheckMs: e.CDC_STALL_CHECK_MS },
    cdcFailedRetryMs: e.CDC_FAILED_RETRY_MS,
    exportLingerMs: e.EXPORT_LINGER_MS,
    leaseTtlMs: e.LEASE_TTL_MS,
    settingsPollMs: e.SETTINGS_POLL_MS,
    retentionDays: e.RETENTION_DAYS,
    cohort: { apiUrl: e.COHORT_API_URL, apiToken: new Secret(e.COHORT_API_TOKEN) },
    tokenEncryptionKeys: e.TOKEN_ENCRYPTION_KEYS,
    dashboard: { jwtSecret: new Secret(e.DASHBOARD_JWT_SECRET), origin: e.DASHBOARD_ORIGIN },
    cohortWebhookSecret: e.COHORT_WEBHOOK_SECRET === undefined ? null : new Secret(e.COHORT_WEBHOOK_SECRET),
    reconcile: { cron: e.RECONCILE_CRON, timezone: e.RECONCILE_TZ },
    logLevel: e.LOG_LEVEL,
  }
  return deepFreeze(config)
}
