/**
 * The export backfill's run mechanics on the local stack (SQLite and PostgreSQL, the Cohort
 * stand-in over real HTTP, the real settings service and its notices): started by turning
 * export on, paged through the Cohort cursor into a recording writer, progress in status;
 * restarted from the first page when a mapping is added while it runs; ended when export is
 * turned off; resumed at its checkpoint after a stop and after a dead owner; one at a time
 * (409 `reconcile.running`). What the pages do in Salesforce is test/cohort-events/backfill.test.ts.
 */
import t, { type Test } from 'tap'
import type { User } from '../../src/cohort/index.ts'
import { assertNoJobRunning, BACKFILL_KIND, createExportBackfill, type BackfillWriter, type ExportBackfill } from '../../src/cohort-events/index.ts'
import { waitFor } from '../helpers/index.ts'
import { connectMerchant } from '../helpers/merchant.ts'
import { startStack } from '../helpers/stack.ts'

interface Recorder {
  writer: BackfillWriter
  /** Every page written, with the mapped properties it was asked for. */
  pages: Array<{ users: string[]; properties: string[] }>
  /** Hold the writer before its nth page (0-based, counted over the recorder's life) until released. */
  holdAt(n: number): { reached: Promise<void>; release(): void }
}

function recorder(): Recorder {
  const pages: Recorder['pages'] = []
  let hold: { n: number; reached: () => void; gate: Promise<void> } | null = null
  let calls = 0
  return {
    pages,
    async writer(_merchantId, settings, users: User[], signal) {
      const n = calls++
      if (hold && hold.n === n) {
        hold.reached()
        await Promise.race([hold.gate, new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }))])
      }
      pages.push({ users: users.map((u) => u.id), properties: settings.export.mappings.map((m) => m.property) })
      return { byAction: { updated: users.length }, byReason: {} }
    },
    holdAt(n) {
      let reached!: () => void
      let release!: () => void
      const reachedP = new Promise<void>((r) => (reached = r))
      const gate = new Promise<void>((r) => (release = r))
      hold = { n, reached, gate }
      return { reached: reachedP, release }
    },
  }
}

const USERS = 230
const PAGE = 50

async function setup(t: Test, backend: 'sqlite' | 'postgres', rec: Recorder, options: { startExport?: boolean } = {}) {
  let backfill: ExportBackfill | undefined
  const stack = await startStack(t, {
    backend,
    cohortEvents: false,
    env: { LEASE_TTL_MS: '1000', SETTINGS_POLL_MS: '200' },
    components: [(services) => (backfill = createExportBackfill(services, { writer: rec.writer, pageSize: PAGE, pausePollMs: 100 }))],
  })
  const merchant = await connectMerchant(stack)
  const { merchantId } = merchant
  const cohort = (path: string, body: unknown) => fetch(`${stack.cohort.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer sandbox-cohort-token' }, body: JSON.stringify(body) }).then((r) => r.json() as Promise<any>)
  await cohort(`/internal/merchants/${merchantId}/user-properties`, { key: 'points', name: 'Points', type: 'number' })
  await cohort(`/internal/merchants/${merchantId}/user-properties`, { key: 'tier', name: 'Tier', type: 'text' })
  const { ids } = await cohort(`/__sandbox/merchants/${merchantId}/users`, { users: Array.from({ length: USERS }, (_, i) => ({ email: `bf${i}@example.com`, properties: { points: i } })), events: false })
  await merchant.saveImport({ enabled: true, object: 'Contact', emailField: 'Email', mode: 'existing', fields: [] })
  const saveExport = async (body: Record<string, unknown>) => {
    const res = await merchant.api('PUT', '/export', { cohortUserIdField: 'Cohort_User_Id__c', mode: 'existing', mappings: [{ property: 'points', field: 'Cohort_Points__c' }], ...body })
    if (res.status !== 200) throw new Error(`PUT export → ${res.status} ${JSON.stringify(res.body)}`)
    return res.body
  }
  if (options.startExport !== false) await saveExport({ enabled: true })
  return { stack, merchant, merchantId, ids: ids as string[], saveExport, backfill: () => backfill! }
}

const backfillHealth = async (merchant: { health(): Promise<any> }) => (await merchant.health()).exportBackfill

const completed = (merchant: { health(): Promise<any> }, what = 'the backfill completed') =>
  waitFor(async () => (await backfillHealth(merchant)).state === 'completed', 30_000, what)

const seen = (rec: Recorder, from = 0) => rec.pages.slice(from).flatMap((p) => p.users)

for (const backend of ['sqlite', 'postgres'] as const) {
  t.test(`${backend}: turning export on walks every user once, page by page; status shows it`, async (t) => {
    const rec = recorder()
    const { merchant, ids, stack, merchantId } = await setup(t, backend, rec)
    await completed(merchant)
    t.same(seen(rec), ids, 'every user, in cursor order, once')
    t.equal(rec.pages.length, Math.ceil(USERS / PAGE))
    t.ok(rec.pages.every((p) => p.users.length <= PAGE))
    const health = await backfillHealth(merchant)
    t.match(health, { state: 'completed', reason: 'export turned on', processed: USERS, counts: { byAction: { updated: USERS }, byReason: {} }, error: null })
    t.type(health.runId, 'string')
    t.type(health.finishedAt, 'string')
    const run = await stack.store.getJobRun(merchantId, health.runId)
    t.equal(run?.kind, BACKFILL_KIND)

    // Saving the same settings again starts nothing; a mapping added does, once.
    await merchant.api('PUT', '/export', (await merchant.api('GET', '')).body.export)
    const before = rec.pages.length
    const first = health.runId
    const res = await merchant.api('PUT', '/export', { enabled: true, cohortUserIdField: 'Cohort_User_Id__c', mode: 'existing', mappings: [{ property: 'points', field: 'Cohort_Points__c' }, { property: 'tier', field: 'Loyalty_Tier__c' }] })
    t.equal(res.status, 200)
    await waitFor(async () => { const h = await backfillHealth(merchant); return h.runId !== first && h.state === 'completed' }, 30_000, 'a second backfill')
    t.equal((await backfillHealth(merchant)).reason, 'mapping added')
    t.same(seen(rec, before), ids, 'the added mapping: every user again')
    t.ok(rec.pages.slice(before).every((p) => p.properties.includes('tier')))
    // A mapping removed starts nothing.
    await merchant.api('PUT', '/export', { enabled: true, cohortUserIdField: 'Cohort_User_Id__c', mode: 'existing', mappings: [{ property: 'tier', field: 'Loyalty_Tier__c' }] })
    const pagesNow = rec.pages.length
    const runNow = (await backfillHealth(merchant)).runId
    // Two sweeps (LEASE_TTL_MS = 1 s) would have started one by now.
    await new Promise((r) => setTimeout(r, 2_500))
    t.equal(rec.pages.length, pagesNow, 'nothing written for a mapping removed')
    t.equal((await backfillHealth(merchant)).runId, runNow)
  })

  t.test(`${backend}: a mapping added while it runs walks again from the first page; export off ends it`, async (t) => {
    const rec = recorder()
    const hold = rec.holdAt(2)
    const { merchant, ids, saveExport, stack, merchantId } = await setup(t, backend, rec)
    await hold.reached
    const running = await backfillHealth(merchant)
    t.equal(running.state, 'running')
    t.equal(running.processed, 2 * PAGE, 'progress after two pages')
    await t.rejects(assertNoJobRunning(stack.store, merchantId), { code: 'reconcile.running', status: 409, details: { runId: running.runId } }, '409 while it runs, naming it')
    await saveExport({ enabled: true, mappings: [{ property: 'points', field: 'Cohort_Points__c' }, { property: 'tier', field: 'Loyalty_Tier__c' }] })
    hold.release()
    await completed(merchant)
    const health = await backfillHealth(merchant)
    t.equal(health.runId, running.runId, 'the same run')
    t.equal(health.processed, USERS, 'progress counts the walk that completed')
    const afterRestart = rec.pages.findIndex((p) => p.properties.includes('tier'))
    t.ok(afterRestart >= 2)
    t.same(seen(rec, afterRestart), ids, 'walked again, with the new mapping, from the first user')
    await assertNoJobRunning(stack.store, merchantId)

    // Export off while a run holds: it ends, failed with the reason; on again: a new full walk.
    const hold2 = rec.holdAt(rec.pages.length + 1)
    await saveExport({ enabled: false })
    await saveExport({ enabled: true })
    await hold2.reached
    await saveExport({ enabled: false })
    hold2.release()
    await waitFor(async () => (await backfillHealth(merchant)).state === 'failed', 30_000, 'the run ended')
    t.match(await backfillHealth(merchant), { state: 'failed', error: 'export turned off' })
    const off = (await backfillHealth(merchant)).runId
    const before = rec.pages.length
    await saveExport({ enabled: true })
    await waitFor(async () => { const h = await backfillHealth(merchant); return h.runId !== off && h.state === 'completed' }, 30_000, 'a new run')
    t.same(seen(rec, before), ids, 'turned on again: every user')
  })

  t.test(`${backend}: waits while the merchant's export is paused, cursor kept`, async (t) => {
    const rec = recorder()
    const { merchant, merchantId, ids, saveExport, stack } = await setup(t, backend, rec, { startExport: false })
    await stack.store.setExportPause(merchantId, { reason: 'salesforce.limit-exceeded', until: null })
    await saveExport({ enabled: true })
    await waitFor(async () => (await stack.store.getLatestJobRun(merchantId, BACKFILL_KIND))?.phase === 'paused', 30_000, 'the backfill waiting')
    t.equal(rec.pages.length, 0, 'nothing written while paused')
    t.match(await backfillHealth(merchant), { state: 'running', processed: 0 })
    await stack.store.clearExportPause(merchantId)
    await completed(merchant)
    t.same(seen(rec), ids)
  })

  t.test(`${backend}: resumed at its checkpoint after a stop, and after an owner that died`, async (t) => {
    const rec = recorder()
    const hold = rec.holdAt(3)
    const { merchant, ids, stack, merchantId } = await setup(t, backend, rec)
    await hold.reached
    // Stop the service mid-page: the page in hand is not checkpointed, the three before are.
    await stack.restart({ LEASE_TTL_MS: '1000', SETTINGS_POLL_MS: '200' })
    hold.release()
    await completed(merchant, 'resumed and completed')
    t.same(rec.pages.slice(0, 3).flatMap((p) => p.users), ids.slice(0, 3 * PAGE))
    t.same(seen(rec, 3), ids.slice(3 * PAGE), 'resumed at the fourth page: nothing done twice, nothing left out')
    t.match(await backfillHealth(merchant), { processed: USERS })

    // A run left by a process that died (owner gone, heartbeat stale), checkpointed after 4 pages.
    const { store } = stack
    const cursor = (await stack.services.cohort.listUsersPage(merchantId, null, { pageSize: 4 * PAGE })).nextCursor
    const claim = await store.claimJobRun(merchantId, BACKFILL_KIND, { dryRun: false, owner: 'dead-host:1:x', ttlMs: 1000 })
    if (!claim.claimed) throw new Error('a live run was not expected')
    await store.updateJobRun(claim.run.id, { status: 'running', startedAt: new Date(), checkpoint: { cursor, covered: ['points→Cohort_Points__c'], reason: 'export turned on', walked: false }, progress: { processed: 4 * PAGE, total: null, reason: 'export turned on' } }, { owner: 'dead-host:1:x' })
    const before = rec.pages.length
    await waitFor(async () => (await store.getJobRun(merchantId, claim.run.id))?.status === 'completed', 30_000, 'taken over and completed')
    t.same(seen(rec, before), ids.slice(4 * PAGE), 'the take-over resumed at the dead owner\'s cursor')
    t.match((await store.getJobRun(merchantId, claim.run.id))?.progress, { processed: USERS })
  })
}
