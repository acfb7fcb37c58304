/**
 * The stack of the resync tests: the whole import direction (subscriber with its loads and
 * resyncs, importer, Cohort stand-in) on the real broker, a merchant importing Contact's
 * Title in mode `all`, the stand-in's admin calls, the status topic and the metrics.
 */
import type { Test } from 'tap'
import type { Env } from '../../src/config.ts'
import { syncEngines, type EngineOptions } from '../../src/engines.ts'
import { LOAD_KIND } from '../../src/import/index.ts'
import { createStore, type Store } from '../../src/store/index.ts'
import { postgresUrl, waitFor } from '../helpers/index.ts'
import { cohortUsers, connectMerchant, salesforceRecords, type TestMerchant } from '../helpers/merchant.ts'
import { startStack, type Stack } from '../helpers/stack.ts'
import { collect, startTestClient } from '../kafka/helpers.ts'
import { admin } from '../sandbox/salesforce/streaming-helpers.ts'

export const CONTACT_CHANNEL = '/data/ContactChangeEvent'
export const IMPORT = { enabled: true, object: 'Contact', emailField: 'Email', mode: 'all', fields: [{ field: 'Title' }] }

export interface ResyncStack {
  stack: Stack
  merchant: TestMerchant
  merchantId: string
  contacts: ReturnType<typeof salesforceRecords>
  users: ReturnType<typeof cohortUsers>
  sf(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>
  /** State messages of the status topic (kind cdc). */
  statuses(): { state: string; reason: string }[]
  waitForCdc(state: string, timeoutMs?: number): Promise<void>
  /** A Prometheus sample of the bridge's /metrics, 0 when absent. */
  metric(name: string, labels?: Record<string, string>): Promise<number>
  /** Wait until the user with this email has `title`. */
  waitForTitle(email: string, title: string, timeoutMs?: number): Promise<void>
  /** The newest load/resync run (read through a store of the test's own, so it works while the bridge is down). */
  latestRun(): Promise<any>
  /** The test's own store on the bridge's database. */
  reader: Store
  /** Wait until the newest run is completed and matches `check`. */
  waitForRun(check: (run: any) => boolean, what: string, timeoutMs?: number): Promise<any>
}

export async function startResyncStack(t: Test, options: { backend: 'sqlite' | 'postgres'; env?: Env; engines?: EngineOptions }): Promise<ResyncStack> {
  const testKafka = await startTestClient(t)
  const stack = await startStack(t, {
    backend: options.backend,
    env: { LEASE_TTL_MS: '3000', SETTINGS_POLL_MS: '500', CDC_FAILED_RETRY_MS: '2000', ...options.env },
    components: syncEngines({ loadPageSize: 5, ...options.engines, cdc: { replayPollMs: 300, resyncRetryMinMs: 400, ...options.engines?.cdc } }),
  })
  const status = collect(t, testKafka.kafka, stack.topics.status)
  await status.consumer.start()
  const merchant = await connectMerchant(stack)
  const { merchantId } = merchant
  const users = cohortUsers(stack, merchantId)
  const reader = createStore(stack.sqlitePath ? { url: `sqlite:${stack.sqlitePath}` } : { url: postgresUrl, schema: stack.schema! })
  t.teardown(() => reader.close())
  const self: ResyncStack = {
    stack,
    merchant,
    merchantId,
    contacts: salesforceRecords(stack, 'Contact'),
    users,
    sf: (method, path, body) => admin(stack.salesforce.url, method, path, body) as Promise<{ status: number; body: any }>,
    statuses: () => status.received.map((r) => JSON.parse(r.value)).filter((m) => m.kind === 'cdc' && m.merchantId === merchantId),
    waitForCdc: (state, timeoutMs = 20_000) => waitFor(async () => (await merchant.health()).cdc === state, timeoutMs, `health.cdc ${state}`),
    async metric(name, labels = {}) {
      const text = await (await fetch(`${stack.url}/metrics`)).text()
      const line = text.split('\n').find((l) => l.startsWith(name) && !l.startsWith('#') && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)) && (l[name.length] === ' ' || l[name.length] === '{'))
      return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0
    },
    async waitForTitle(email, title, timeoutMs = 30_000) {
      await waitFor(async () => (await users.byEmail(email))?.properties.title === title, timeoutMs, `${email} has title ${title}`)
    },
    reader,
    latestRun: () => reader.getLatestJobRun(merchantId, LOAD_KIND),
    async waitForRun(check, what, timeoutMs = 30_000) {
      let run: any
      await waitFor(async () => {
        run = await reader.getLatestJobRun(merchantId, LOAD_KIND)
        return run?.status === 'completed' && check(run)
      }, timeoutMs, what)
      return run
    },
  }
  return self
}

/** Seed contacts silently (no change events), a user each once loaded. */
export const seed = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => ({ LastName: `${prefix}${i}`, Email: `${prefix}${i}@example.com`, Title: `seed-${i}` }))
