/** Contract: fenced replay ids, replay requests and generic checkpoints. */
import type { Test } from 'tap'
import { eventually, takeLease, uid, type ContractContext } from './helpers.ts'

const CHANNEL = '/data/ContactChangeEvent'

export async function checkpointsContract(t: Test, { store, open }: ContractContext): Promise<void> {
  await t.test('replay ids move forward unless forced', async (t) => {
    const merchantId = uid('m')
    const lease = await takeLease(store)
    t.equal(await store.getReplayId(merchantId, CHANNEL), null)
    await store.saveReplayId(merchantId, CHANNEL, 10, { lease })
    await store.saveReplayId(merchantId, CHANNEL, 5, { lease })
    t.equal(await store.getReplayId(merchantId, CHANNEL), 10, 'an older id is ignored, never backwards')
    await store.saveReplayId(merchantId, CHANNEL, 10, { lease })
    t.equal(await store.getReplayId(merchantId, CHANNEL), 10)
    await store.saveReplayId(merchantId, CHANNEL, 5, { lease, force: true })
    t.equal(await store.getReplayId(merchantId, CHANNEL), 5, 'force moves back')
    await store.saveReplayId(merchantId, CHANNEL, 2 ** 40, { lease })
    t.equal(await store.getReplayId(merchantId, CHANNEL), 2 ** 40, 'large ids survive')
    t.equal(await store.getReplayId(merchantId, '/data/LeadChangeEvent'), null, 'per channel')
    t.equal(await store.getReplayId(uid('m'), CHANNEL), null, 'per merchant')
  })

  await t.test('replay ids: a write without the current fence is refused', async (t) => {
    const merchantId = uid('m')
    const lease = await takeLease(store)
    await store.saveReplayId(merchantId, CHANNEL, 10, { lease })
    await t.rejects(store.saveReplayId(merchantId, CHANNEL, 11, { lease: { name: lease.name, fence: lease.fence + 1 } }), { code: 'store.fenced' }, 'a fence never granted')
    await t.rejects(store.saveReplayId(merchantId, CHANNEL, 11, { lease: { name: uid('lease'), fence: 1 } }), { code: 'store.fenced' }, 'a lease never taken')
    await store.releaseLease(lease.name, 'owner-1')
    await t.rejects(store.saveReplayId(merchantId, CHANNEL, 12, { lease }), { code: 'store.fenced' }, 'a released lease')
    await t.rejects(store.saveReplayId(merchantId, CHANNEL, 12, { lease, force: true }), { code: 'store.fenced' }, 'force does not bypass the fence')
    t.equal(await store.getReplayId(merchantId, CHANNEL), 10, 'nothing refused was written')
  })

  await t.test('replay ids: the stale holder is refused once the lease changed hands', async (t) => {
    const other = await open(t)
    const merchantId = uid('m')
    const name = uid('lease')
    const a = await store.acquireLease(name, 'a', 300)
    if (!a) throw new Error('a free lease must be granted')
    await store.saveReplayId(merchantId, CHANNEL, 100, { lease: { name, fence: a.fence } })
    // a stalls (a long GC pause, say); its lease expires on the store's clock and b takes over.
    const b = await eventually(() => other.acquireLease(name, 'b', 60_000), 'the lease to change hands')
    t.ok(b.fence > a.fence)
    await other.saveReplayId(merchantId, CHANNEL, 150, { lease: { name, fence: b.fence } })
    await t.rejects(store.saveReplayId(merchantId, CHANNEL, 200, { lease: { name, fence: a.fence } }), { code: 'store.fenced' }, 'a\'s late write is refused')
    t.equal(await other.getReplayId(merchantId, CHANNEL), 150, 'the new holder\'s checkpoint stands')
  })

  await t.test('replay requests: the streaming instance takes them, with its fence', async (t) => {
    const merchantId = uid('m')
    const lease = await takeLease(store)
    await store.saveReplayId(merchantId, CHANNEL, 500, { lease })
    t.equal(await store.takeReplayRequest(merchantId), null, 'none pending')
    await store.requestReplay(merchantId, CHANNEL, 90)
    await store.requestReplay(merchantId, CHANNEL, 100)
    await t.rejects(store.takeReplayRequest(merchantId, { lease: { name: lease.name, fence: lease.fence + 1 } }), { code: 'store.fenced' })
    const taken = await store.takeReplayRequest(merchantId, { lease })
    t.match(taken, { merchantId, channel: CHANNEL, replayId: 100 }, 'a later request replaces an untaken one')
    t.type(taken?.requestedAt, Date)
    t.equal(await store.getReplayId(merchantId, CHANNEL), 100, 'the checkpoint moved back in the same step')
    t.equal(await store.takeReplayRequest(merchantId, { lease }), null, 'taken once')

    await store.requestReplay(merchantId, CHANNEL, 7)
    t.match(await store.takeReplayRequest(merchantId), { replayId: 7 }, 'without a lease it is only taken')
    t.equal(await store.getReplayId(merchantId, CHANNEL), 100)
  })

  await t.test('generic checkpoints are fenced too', async (t) => {
    const name = uid('reconcile')
    const lease = await takeLease(store)
    t.equal(await store.getCheckpoint(name), null)
    await store.saveCheckpoint(name, { phase: 'links', after: '003A' }, lease)
    t.same(await store.getCheckpoint(name), { phase: 'links', after: '003A' })
    await store.saveCheckpoint(name, ['any', 1, null], lease)
    t.same(await store.getCheckpoint(name), ['any', 1, null])
    await t.rejects(store.saveCheckpoint(name, 'stale', { name: lease.name, fence: lease.fence - 1 }), { code: 'store.fenced' })
    t.same(await store.getCheckpoint(name), ['any', 1, null])
  })
}
