/**
 * The local stack as real processes: the stand-ins in one child process
 * (test/helpers/stand-ins-process.ts) and the service in another (`node src/server.ts`, as
 * `npm start` runs it), configured only through its environment: a free port, a fresh SQLite
 * file or PostgreSQL schema (passed in the URL as `options=-c search_path=…`), the stack's own
 * random topics and group prefix, the stand-ins' URLs. For what needs a process boundary:
 * SIGKILL and restart on the same store, signals, exit codes, the JSON log on stdout.
 * `startInstance()` adds another service process on the same store and topics (several
 * instances, on PostgreSQL); the merchant helpers (test/helpers/merchant.ts) take the stack.
 *
 * `startProcessStack` resolves once `/readyz` answers 200; the test's teardown kills whatever
 * is still running (SIGTERM, then SIGKILL after 10 s), and a test process that exits anyway
 * SIGKILLs its children on the way out, so nothing is left running.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import pg from 'pg'
import type { Test } from 'tap'
import { mintDashboardToken } from '../../sandbox/dashboard/token.ts'
import type { Env } from '../../src/config.ts'
import { deleteTestTopics, dropSchema, freePort, kafkaBrokers, postgresUrl, randomName } from './index.ts'
import { callJson, DASHBOARD_ORIGIN, DASHBOARD_SECRET, kafkaEnvOf, kafkaNamesFor, type StackTopics } from './stack.ts'

const ROOT = join(import.meta.dirname, '..', '..')
const NODE = process.execPath
const KILL_AFTER_MS = 10_000

export interface ProcessStackOptions {
  /** Default `sqlite`. */
  backend?: 'sqlite' | 'postgres'
  /** More environment for the service (wins over the stack's). */
  env?: Env
  /** Orgs of the Salesforce stand-in. Default 2. */
  salesforceOrgs?: number
  /** The Cohort stand-in publishes its user events to the stack's cohort events topic. Default true. */
  cohortEvents?: boolean
  /** The service's LOG_LEVEL. Default `info`. */
  logLevel?: string
  /** How long the service may take to answer `/readyz` 200. Default 60000. */
  readyTimeoutMs?: number
}

export interface ServiceExit {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface ServiceLogs {
  /** Every JSON line the service wrote on stdout, in order, across restarts (a line that is not JSON comes as `{ raw }`). */
  lines(): Record<string, unknown>[]
  /** What the service wrote on stderr, across restarts. */
  stderr(): string
  /** Resolves with the first line (from `from`, default 0) that `predicate` takes; rejects after `timeoutMs` (default 15000). */
  waitFor(predicate: (line: Record<string, unknown>) => boolean, options?: { timeoutMs?: number; from?: number }): Promise<Record<string, unknown>>
}

/** One service process (`node src/server.ts`) of a process stack. */
export interface ServiceInstance {
  /** Its base URL (also its PUBLIC_URL); the same after a restart. */
  url: string
  /** Its environment as last started. */
  readonly env: Readonly<Record<string, string>>
  logs: ServiceLogs
  /** Its pid, or null while it is not running. */
  readonly pid: number | null
  /** Signal it (default SIGKILL) and resolve when it has exited. */
  kill(signal?: NodeJS.Signals): Promise<ServiceExit>
  /** Send it a signal and return at once (SIGSTOP / SIGCONT: a process that stalls, then goes on). */
  signal(signal: NodeJS.Signals): void
  /**
   * Start it (again) on the same store, port and topics (`env` on top); resolves when ready, or
   * at once with `ready: false` (to kill it again at any point of its start).
   */
  start(env?: Env, options?: { ready?: boolean }): Promise<void>
}

export interface ProcessStack {
  /** The service's base URL (also its PUBLIC_URL); the same after a restart. */
  url: string
  salesforceUrl: string
  cohortUrl: string
  /** The same URLs in the shape of the in-process stack's, for test/helpers/merchant.ts. */
  salesforce: { url: string }
  cohort: { url: string }
  topics: StackTopics
  groupPrefix: string
  databaseUrl: string
  sqlitePath: string | null
  schema: string | null
  /** The service's environment as last started. */
  readonly env: Readonly<Record<string, string>>
  logs: ServiceLogs
  /** The service's pid, or null while it is not running. */
  readonly pid: number | null
  /** Signal the service alone (default SIGKILL) and resolve when it has exited. */
  kill(signal?: NodeJS.Signals): Promise<ServiceExit>
  /** Start the service again on the same store, port and topics (`env` on top); resolves when ready (see ServiceInstance.start). */
  startService(env?: Env, options?: { ready?: boolean }): Promise<void>
  /**
   * One more service process on the same store, topics and group prefix, on a port of its own
   * (`env` on top of the stack's): a second instance. Needs PostgreSQL for a real one (SQLite
   * serves one instance). Stopped at teardown like the first.
   */
  startInstance(env?: Env): Promise<ServiceInstance>
  /** The first service process (what `url`, `logs`, `kill` and `startService` act on). */
  service: ServiceInstance
  token(claims: { merchantId?: string; role?: 'ops' }): Promise<string>
  call(method: string, path: string, options?: { merchantId?: string; body?: unknown; token?: string }): Promise<{ status: number; body: any; headers: Headers }>
}

/** Children to SIGKILL if the test process exits with them still running. */
const live = new Set<ChildProcess>()
let exitHookInstalled = false
function track(child: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true
    process.once('exit', () => {
      for (const c of live) c.kill('SIGKILL')
    })
  }
  live.add(child)
  child.once('exit', () => live.delete(child))
}

const exited = (child: ChildProcess): Promise<ServiceExit> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve({ code: child.exitCode, signal: child.signalCode })
    : new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))

/** SIGTERM, then SIGKILL when it has not exited after KILL_AFTER_MS. */
async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const done = exited(child)
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS)
  await done
  clearTimeout(timer)
}

/** The few variables a Node child needs from ours; nothing that configures the service leaks through. */
export function baseProcessEnv(): Record<string, string> {
  const out: Record<string, string> = {}
  for (const key of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ']) {
    const value = process.env[key]
    if (value !== undefined) out[key] = value
  }
  return out
}

/** The stand-ins in a child process of their own (stand-ins-process.ts); their URLs once both listen. */
export async function startStandIns(t: Test, env: Record<string, string>): Promise<{ salesforce: string; cohort: string }> {
  const child = spawn(NODE, [join(ROOT, 'test', 'helpers', 'stand-ins-process.ts')], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] })
  track(child)
  t.teardown(() => terminate(child))
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-20_000)
  })
  const lines = createInterface({ input: child.stdout! })
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`stand-ins did not start within 60 s: ${stderr}`)), 60_000)
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`stand-ins exited (${signal ?? code}) before listening: ${stderr}`))
    })
    lines.once('line', (line) => {
      clearTimeout(timer)
      try {
        resolve(JSON.parse(line) as { salesforce: string; cohort: string })
      } catch {
        reject(new Error(`stand-ins printed ${line}`))
      }
    })
  })
}

async function createSchema(schema: string): Promise<void> {
  const admin = new pg.Client({ connectionString: postgresUrl })
  await admin.connect()
  try {
    await admin.query(`CREATE SCHEMA ${schema}`)
  } finally {
    await admin.end()
  }
}

/** A service process on `url` with `baseEnv`, not started yet; `terminate` is for the teardown. */
function createServiceProcess(url: string, baseEnv: Record<string, string>, readyTimeoutMs: number): ServiceInstance & { terminate(): Promise<void> } {
  const lines: Record<string, unknown>[] = []
  let stderr = ''
  const waiters = new Set<() => void>()
  const logs: ServiceLogs = {
    lines: () => lines,
    stderr: () => stderr,
    async waitFor(predicate, waitOptions = {}) {
      const timeoutMs = waitOptions.timeoutMs ?? 15_000
      const find = () => lines.slice(waitOptions.from ?? 0).find(predicate)
      const now = find()
      if (now) return now
      let timer: NodeJS.Timeout | undefined
      let check: (() => void) | undefined
      try {
        return await new Promise<Record<string, unknown>>((resolve, reject) => {
          check = () => {
            const line = find()
            if (line) resolve(line)
          }
          waiters.add(check)
          timer = setTimeout(() => reject(new Error(`no matching service log line within ${timeoutMs} ms`)), timeoutMs)
        })
      } finally {
        clearTimeout(timer)
        if (check) waiters.delete(check)
      }
    },
  }

  let service: ChildProcess | null = null
  let env = baseEnv

  async function start(extra: Env = {}, options: { ready?: boolean } = {}): Promise<void> {
    if (service) throw new Error('the service is already running; kill() it first')
    env = { ...baseEnv }
    for (const [key, value] of Object.entries(extra)) if (value !== undefined) env[key] = value
    const child = spawn(NODE, [join(ROOT, 'src', 'server.ts')], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
    track(child)
    service = child
    child.once('exit', () => {
      if (service === child) service = null
    })
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8')
    })
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let parsed: Record<string, unknown>
      try {
        parsed = JSON.parse(line) as Record<string, unknown>
      } catch {
        parsed = { raw: line }
      }
      lines.push(parsed)
      for (const check of waiters) check()
    })
    if (options.ready === false) return

    const deadline = Date.now() + readyTimeoutMs
    let last = 'no answer'
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`the service exited (${child.signalCode ?? child.exitCode}) before it was ready: ${stderr.slice(-2000)}`)
      }
      try {
        const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) })
        last = `${res.status} ${await res.text()}`
        if (res.status === 200) return
      } catch (err) {
        last = (err as Error).message
      }
      if (Date.now() > deadline) throw new Error(`the service was not ready within ${readyTimeoutMs} ms (last /readyz: ${last}); stderr: ${stderr.slice(-2000)}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  return {
    url,
    get env() {
      return env
    },
    logs,
    get pid() {
      return service?.pid ?? null
    },
    async kill(signal = 'SIGKILL') {
      const child = service
      if (!child) throw new Error('the service is not running')
      const done = exited(child)
      child.kill(signal)
      return done
    },
    signal(signal) {
      if (!service) throw new Error('the service is not running')
      service.kill(signal)
    },
    start,
    terminate: async () => {
      if (!service) return
      // A stopped process cannot act on SIGTERM.
      service.kill('SIGCONT')
      await terminate(service)
    },
  }
}

export async function startProcessStack(t: Test, options: ProcessStackOptions = {}): Promise<ProcessStack> {
  const names = kafkaNamesFor(options.env)
  const dir = mkdtempSync(join(tmpdir(), 'bridge-process-stack-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))

  const standInsEnv = {
    ...baseProcessEnv(),
    SANDBOX_SALESFORCE_ORGS: String(options.salesforceOrgs ?? 2),
    KAFKA_BROKERS: kafkaBrokers.join(','),
    ...(options.cohortEvents === false ? {} : { KAFKA_TOPIC_COHORT_EVENTS: names.topics.cohortEvents }),
    ...(options.env?.KAFKA_PARTITIONS ? { KAFKA_PARTITIONS: options.env.KAFKA_PARTITIONS } : {}),
  }
  // The broker is shared by every suite on the machine: a busy one can fail the Cohort
  // stand-in's topic creation (UNKNOWN_TOPIC_OR_PARTITION past kafkajs's retries). Once more.
  const standIns = await startStandIns(t, standInsEnv).catch((err: unknown) => {
    if (!/exited .* before listening/.test((err as Error).message)) throw err
    return startStandIns(t, standInsEnv)
  })

  const backend = options.backend ?? 'sqlite'
  const sqlitePath = backend === 'sqlite' ? join(dir, 'bridge.db') : null
  const schema = backend === 'postgres' ? randomName('pstack').replace(/-/g, '_') : null
  let databaseUrl: string
  if (schema) {
    // The store uses the URL's search_path, so the schema must exist before it migrates.
    await createSchema(schema)
    t.teardown(() => dropSchema(schema))
    databaseUrl = `${postgresUrl}${postgresUrl.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`
  } else {
    databaseUrl = `sqlite:${sqlitePath}`
  }

  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const baseEnv: Record<string, string> = {
    ...baseProcessEnv(),
    NODE_ENV: 'test',
    LOG_LEVEL: options.logLevel ?? 'info',
    PORT: String(port),
    HOST: '127.0.0.1',
    PUBLIC_URL: url,
    DATABASE_URL: databaseUrl,
    KAFKA_BROKERS: kafkaBrokers.join(','),
    ...(kafkaEnvOf(names) as Record<string, string>),
    SALESFORCE_LOGIN_URL: standIns.salesforce,
    SALESFORCE_SANDBOX_LOGIN_URL: standIns.salesforce,
    COHORT_API_URL: standIns.cohort,
    DASHBOARD_JWT_SECRET: DASHBOARD_SECRET,
    DASHBOARD_ORIGIN,
  }
  for (const [key, value] of Object.entries(options.env ?? {})) if (value !== undefined) baseEnv[key] = value

  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000
  const primary = createServiceProcess(url, baseEnv, readyTimeoutMs)
  const instances = [primary]

  // Registered before the first start: a service that never gets ready is killed too.
  t.teardown(async () => {
    await Promise.all(instances.map((instance) => instance.terminate()))
    await deleteTestTopics(Object.values(names.topics))
  })
  await primary.start()

  const stack: ProcessStack = {
    url,
    salesforceUrl: standIns.salesforce,
    cohortUrl: standIns.cohort,
    salesforce: { url: standIns.salesforce },
    cohort: { url: standIns.cohort },
    topics: names.topics,
    groupPrefix: names.groupPrefix,
    databaseUrl,
    sqlitePath,
    schema,
    get env() {
      return primary.env
    },
    logs: primary.logs,
    get pid() {
      return primary.pid
    },
    kill: (signal) => primary.kill(signal),
    startService: (extra, startOptions) => primary.start(extra, startOptions),
    async startInstance(extra = {}) {
      const port = await freePort()
      const instanceUrl = `http://127.0.0.1:${port}`
      const instance = createServiceProcess(instanceUrl, { ...baseEnv, PORT: String(port), PUBLIC_URL: instanceUrl }, readyTimeoutMs)
      instances.push(instance)
      await instance.start(extra)
      return instance
    },
    service: primary,
    token: (claims) => mintDashboardToken(DASHBOARD_SECRET, claims, { ttlSeconds: 600 }),
    async call(method, path, callOptions = {}) {
      const token = callOptions.token ?? (callOptions.merchantId ? await stack.token({ merchantId: callOptions.merchantId }) : undefined)
      return callJson(url, method, path, { body: callOptions.body, token })
    },
  }
  return stack
}
