/** Contract: job runs, one live run per merchant and kind, owners, heartbeats and takeover. */
import type { Test } from 'tap'
import { eventually, uid, type ContractContext } from './helpers.ts'

export async function runsContract(t: Test, { store, open }: ContractContext): Promise<void> {
  await t.test('job runs: claim, update, latest', async (t) => {
    const merchantId = uid('m')
    const claim = await store.claimJobRun(merchantId, 'reconcile', { dryRun: true })
    if (!claim.claimed) throw new Error('the first claim must succeed')
    const run = claim.run
    t.equal(claim.takenOver, false)
    t.match(run, { merchantId, kind: 'reconcile', status: 'queued', dryRun: true, phase: null, progress: null, apiCalls: 0, error: null, startedAt: null, finishedAt: null, owner: 'unowned' })
    t.type(run.heartbeatAt, Date)

    const blocked = await store.claimJobRun(merchantId, 'reconcile', { dryRun: false })
    t.equal(blocked.claimed, false)
    if (!blocked.claimed) t.equal(blocked.running.id, run.id, 'the live run is returned')
    t.equal((await store.claimJobRun(merchantId, 'backfill', { dryRun: false })).claimed, true, 'kinds are independent')
    t.equal((await store.claimJobRun(uid('m'), 'reconcile', { dryRun: false })).claimed, true, 'merchants are independent')

    const startedAt = new Date(1_700_000_000_000)
    const running = await store.updateJobRun(run.id, { status: 'running', startedAt, phase: 'scan', progress: { done: 1, total: 10 }, samples: [{ id: 'r1' }], apiCalls: 3 })
    t.match(running, { id: run.id, status: 'running', phase: 'scan', progress: { done: 1, total: 10 }, samples: [{ id: 'r1' }], apiCalls: 3, dryRun: true })
    t.equal(running.startedAt?.getTime(), startedAt.getTime())
    t.ok(running.updatedAt.getTime() >= run.updatedAt.getTime())
    t.equal((await store.claimJobRun(merchantId, 'reconcile', { dryRun: false })).claimed, false, 'a running run blocks too')

    const untouched = await store.updateJobRun(run.id, {})
    t.match(untouched, { status: 'running', phase: 'scan', apiCalls: 3 }, 'an empty patch changes nothing else')

    const finishedAt = new Date(1_700_000_060_000)
    const failed = await store.updateJobRun(run.id, { status: 'failed', finishedAt, error: 'boom', checkpoint: { after: 'r5' }, counts: { updated: 4 }, phase: null })
    t.match(failed, { status: 'failed', error: 'boom', checkpoint: { after: 'r5' }, counts: { updated: 4 }, phase: null, progress: { done: 1, total: 10 } })
    t.equal(failed.finishedAt?.getTime(), finishedAt.getTime())
    t.same(await store.getJobRun(merchantId, run.id), failed)
    t.equal(await store.getJobRun(uid('m'), run.id), null, 'runs are per merchant')
    t.equal(await store.getJobRun(merchantId, 'missing'), null)

    const next = await store.claimJobRun(merchantId, 'reconcile', { dryRun: false })
    t.equal(next.claimed, true, 'a finished run no longer blocks')
    if (next.claimed) {
      t.not(next.run.id, run.id)
      t.same(await store.getLatestJobRun(merchantId, 'reconcile'), next.run, 'latest is the newest')
    }
    t.equal(await store.getLatestJobRun(merchantId, 'nothing'), null)
    await t.rejects(store.updateJobRun('missing', { status: 'running' }), { code: 'not-found' })
  })

  await t.test('job runs: concurrent claims from two instances, one wins', async (t) => {
    const other = await open(t)
    const merchantId = uid('m')
    const results = await Promise.all([
      store.claimJobRun(merchantId, 'reconcile', { dryRun: false, owner: 'a' }),
      other.claimJobRun(merchantId, 'reconcile', { dryRun: false, owner: 'b' }),
      store.claimJobRun(merchantId, 'reconcile', { dryRun: false, owner: 'c' }),
      other.claimJobRun(merchantId, 'reconcile', { dryRun: false, owner: 'd' }),
    ])
    const winners = results.flatMap((r) => (r.claimed ? [r.run] : []))
    t.equal(winners.length, 1, 'exactly one claim succeeds')
    for (const r of results) if (!r.claimed) t.equal(r.running.id, winners[0]?.id, 'the others see the winner')
  })

  await t.test('job runs: a crashed run is taken over after its heartbeat goes stale', async (t) => {
    const other = await open(t)
    const merchantId = uid('m')
    const ttlMs = 300
    const first = await store.claimJobRun(merchantId, 'reconcile', { dryRun: true, owner: 'a', ttlMs })
    if (!first.claimed) throw new Error('the first claim must succeed')
    await store.updateJobRun(first.run.id, { status: 'running', checkpoint: { after: '003x' } }, { owner: 'a' })
    t.equal(await store.heartbeatJobRun(first.run.id, 'a'), true, 'the owner beats')
    t.equal(await store.heartbeatJobRun(first.run.id, 'b'), false, 'nobody else can')
    const early = await other.claimJobRun(merchantId, 'reconcile', { dryRun: false, owner: 'b', ttlMs })
    t.equal(early.claimed, false, 'a fresh heartbeat keeps the run')

    // a stops beating (it crashed); b claims until the store's clock says the heartbeat is stale.
    const taken = await eventually(async () => {
      const claim = await other.claimJobRun(merchantId, 'reconcile', { dryRun: false, owner: 'b', ttlMs })
      return claim.claimed ? claim : null
    }, 'the takeover')
    t.equal(taken.takenOver, true)
    t.equal(taken.run.id, first.run.id, 'the same run')
    t.match(taken.run, { owner: 'b', status: 'running', checkpoint: { after: '003x' }, dryRun: true }, 'with its checkpoint')
    t.equal(await store.heartbeatJobRun(first.run.id, 'a'), false, 'the old owner\'s heartbeat is refused')
    await t.rejects(store.updateJobRun(first.run.id, { checkpoint: { after: '003z' } }, { owner: 'a' }), { code: 'store.fenced' }, 'and its writes')
    t.equal(await other.heartbeatJobRun(first.run.id, 'b'), true)
    t.same((await store.getJobRun(merchantId, first.run.id))?.checkpoint, { after: '003x' })

    await other.updateJobRun(first.run.id, { status: 'completed', finishedAt: new Date() }, { owner: 'b' })
    t.equal(await other.heartbeatJobRun(first.run.id, 'b'), false, 'a finished run takes no heartbeat')
  })

  await t.test('job runs: listed newest first, by kind, in pages', async (t) => {
    const merchantId = uid('m')
    const made: Array<{ id: string; kind: string }> = []
    for (let i = 0; i < 5; i++) {
      const kind = i % 2 ? 'backfill' : 'reconcile'
      const claim = await store.claimJobRun(merchantId, kind, { dryRun: false })
      if (!claim.claimed) throw new Error('claim must succeed')
      made.push({ id: claim.run.id, kind })
      await store.updateJobRun(claim.run.id, { status: 'completed', finishedAt: new Date() })
    }
    const newest = [...made].reverse()
    const p1 = await store.listJobRuns(merchantId, { limit: 2 })
    const p2 = await store.listJobRuns(merchantId, { limit: 2, cursor: p1.nextCursor })
    const p3 = await store.listJobRuns(merchantId, { limit: 2, cursor: p2.nextCursor })
    t.same([...p1.data, ...p2.data, ...p3.data].map((r) => r.id), newest.map((r) => r.id))
    t.equal(p3.nextCursor, null)
    t.same((await store.listJobRuns(merchantId, { kind: 'backfill' })).data.map((r) => r.id), newest.filter((r) => r.kind === 'backfill').map((r) => r.id))
    t.same((await store.listJobRuns(uid('m'))).data, [])
  })
}
