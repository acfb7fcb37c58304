/** Contract: sync health (CDC state and error, last event, last import). */
import type { Test } from 'tap'
import type { CdcError, SyncDirection } from '../../../src/store/index.ts'
import { eventually, takeLease, uid, type ContractContext } from './helpers.ts'

const at = 1_700_000_000_000
const error = (code: string, message = 'it broke'): CdcError => ({ code, message, action: `Fix ${code}.` })
/** Let the store's clock move on (SQLite keeps milliseconds), so a moved cdcSince is later. */
const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 3))

export async function healthContract(t: Test, { store, open }: ContractContext): Promise<void> {
  await t.test('a merchant nothing was reported for is stopped, with nulls', async (t) => {
    const merchantId = uid('m')
    t.same(await store.getSyncHealth(merchantId), { merchantId, cdc: 'stopped', cdcError: null, cdcSince: null, lastEventAt: null, lastImportAt: null })
  })

  await t.test('setCdcHealth is true only when the state or the error code changes; cdcSince moves only then', async (t) => {
    const merchantId = uid('m')
    t.equal(await store.setCdcHealth(merchantId, { state: 'starting', error: null }), true, 'first report of another state than stopped')
    const starting = await store.getSyncHealth(merchantId)
    t.match(starting, { merchantId, cdc: 'starting', cdcError: null, lastEventAt: null, lastImportAt: null })
    t.type(starting.cdcSince, Date)

    await tick()
    t.equal(await store.setCdcHealth(merchantId, { state: 'starting', error: null }), false, 'the same again')
    t.same((await store.getSyncHealth(merchantId)).cdcSince, starting.cdcSince, 'cdcSince stays')

    await tick()
    t.equal(await store.setCdcHealth(merchantId, { state: 'streaming', error: null }), true, 'another state')
    const streaming = await store.getSyncHealth(merchantId)
    t.equal(streaming.cdc, 'streaming')
    t.ok(streaming.cdcSince! > starting.cdcSince!, 'cdcSince moved')

    await tick()
    t.equal(await store.setCdcHealth(merchantId, { state: 'streaming', error: error('A') }), true, 'same state, an error where none was')
    const withError = await store.getSyncHealth(merchantId)
    t.same(withError.cdcError, error('A'))
    t.ok(withError.cdcSince! > streaming.cdcSince!)

    await tick()
    t.equal(await store.setCdcHealth(merchantId, { state: 'streaming', error: { code: 'A', message: 'worded anew', action: 'Do this instead.' } }), false, 'same code, new message and action')
    const reworded = await store.getSyncHealth(merchantId)
    t.same(reworded.cdcError, { code: 'A', message: 'worded anew', action: 'Do this instead.' }, 'message and action are still updated')
    t.same(reworded.cdcSince, withError.cdcSince, 'cdcSince stays')

    await tick()
    t.equal(await store.setCdcHealth(merchantId, { state: 'streaming', error: error('B') }), true, 'another code')
    const otherCode = await store.getSyncHealth(merchantId)
    t.equal(otherCode.cdcError?.code, 'B')
    t.ok(otherCode.cdcSince! > reworded.cdcSince!)

    await tick()
    t.equal(await store.setCdcHealth(merchantId, { state: 'failed', error: error('B') }), true, 'another state, same code')
    await tick()
    t.equal(await store.setCdcHealth(merchantId, { state: 'failed', error: null }), true, 'the error cleared')
    const cleared = await store.getSyncHealth(merchantId)
    t.match(cleared, { cdc: 'failed', cdcError: null })
    t.ok(cleared.cdcSince! > otherCode.cdcSince!)

    t.match(await store.getSyncHealth(uid('m')), { cdc: 'stopped', cdcError: null, cdcSince: null }, 'per merchant')
  })

  await t.test('a first report of the defaults is no change, but is reported since then', async (t) => {
    const merchantId = uid('m')
    t.equal(await store.setCdcHealth(merchantId, { state: 'stopped', error: null }), false, 'stopped without error is what was shown')
    const first = await store.getSyncHealth(merchantId)
    t.equal(first.cdc, 'stopped')
    t.type(first.cdcSince, Date, 'cdcSince is set once reported')
    await tick()
    t.equal(await store.setCdcHealth(merchantId, { state: 'stopped', error: null }), false)
    t.same((await store.getSyncHealth(merchantId)).cdcSince, first.cdcSince)

    // A row made by an event or an import has never been reported on.
    const other = uid('m')
    await store.noteCdcEvent(other, new Date(at))
    t.equal((await store.getSyncHealth(other)).cdcSince, null)
    t.equal(await store.setCdcHealth(other, { state: 'stopped', error: null }), false)
    t.type((await store.getSyncHealth(other)).cdcSince, Date)
    t.equal(await store.setCdcHealth(other, { state: 'stopped', error: error('X') }), true, 'an error is a change')
  })

  await t.test('another instance reads the same health, and of two reports of one change one is the change', async (t) => {
    const other = await open(t)
    const merchantId = uid('m')
    const results = await Promise.all([
      store.setCdcHealth(merchantId, { state: 'streaming', error: null }),
      other.setCdcHealth(merchantId, { state: 'streaming', error: null }),
    ])
    t.same(results.sort(), [false, true], 'exactly one reports the change')
    t.equal((await other.getSyncHealth(merchantId)).cdc, 'streaming')
    t.same(await other.getSyncHealth(merchantId), await store.getSyncHealth(merchantId))
  })

  await t.test('setCdcHealth with a lease: accepted with the current fence, refused with a stale one', async (t) => {
    const merchantId = uid('m')
    const lease = await takeLease(store)
    t.equal(await store.setCdcHealth(merchantId, { state: 'streaming', error: null }, { lease }), true, 'the current fence')
    await t.rejects(store.setCdcHealth(merchantId, { state: 'failed', error: error('A') }, { lease: { name: lease.name, fence: lease.fence + 1 } }), { code: 'store.fenced' }, 'a fence never granted')
    await t.rejects(store.setCdcHealth(merchantId, { state: 'failed', error: error('A') }, { lease: { name: uid('lease'), fence: 1 } }), { code: 'store.fenced' }, 'a lease never taken')
    await store.releaseLease(lease.name, 'owner-1')
    await t.rejects(store.setCdcHealth(merchantId, { state: 'failed', error: error('A') }, { lease }), { code: 'store.fenced' }, 'a released lease')
    t.match(await store.getSyncHealth(merchantId), { cdc: 'streaming', cdcError: null }, 'nothing refused was written')

    const fresh = uid('m')
    await t.rejects(store.setCdcHealth(fresh, { state: 'streaming', error: null }, { lease }), { code: 'store.fenced' })
    t.equal((await store.getSyncHealth(fresh)).cdcSince, null, 'a refused first report leaves no row')
  })

  await t.test('setCdcHealth: the stale streamer is refused once the lease changed hands', async (t) => {
    const other = await open(t)
    const merchantId = uid('m')
    const name = uid('lease')
    const a = await store.acquireLease(name, 'a', 300)
    if (!a) throw new Error('a free lease must be granted')
    t.equal(await store.setCdcHealth(merchantId, { state: 'streaming', error: null }, { lease: { name, fence: a.fence } }), true)
    // a stalls; its lease expires on the store's clock and b takes over.
    const b = await eventually(() => other.acquireLease(name, 'b', 60_000), 'the lease to change hands')
    t.equal(await other.setCdcHealth(merchantId, { state: 'resyncing', error: null }, { lease: { name, fence: b.fence } }), true, 'the new holder')
    await t.rejects(store.setCdcHealth(merchantId, { state: 'failed', error: error('STALE') }, { lease: { name, fence: a.fence } }), { code: 'store.fenced' }, 'a\'s late report is refused')
    t.match(await other.getSyncHealth(merchantId), { cdc: 'resyncing', cdcError: null }, 'the new holder\'s state stands')
  })

  await t.test('noteCdcEvent moves lastEventAt forward only, and leaves the CDC state alone', async (t) => {
    const merchantId = uid('m')
    await store.noteCdcEvent(merchantId, new Date(at + 1000))
    t.same(await store.getSyncHealth(merchantId), { merchantId, cdc: 'stopped', cdcError: null, cdcSince: null, lastEventAt: new Date(at + 1000), lastImportAt: null })
    await store.noteCdcEvent(merchantId, new Date(at))
    t.same((await store.getSyncHealth(merchantId)).lastEventAt, new Date(at + 1000), 'an older time is ignored')
    await store.noteCdcEvent(merchantId, new Date(at + 1001))
    t.same((await store.getSyncHealth(merchantId)).lastEventAt, new Date(at + 1001), 'a newer one moves it')

    await store.setCdcHealth(merchantId, { state: 'streaming', error: null })
    await store.noteCdcEvent(merchantId, new Date(at + 2000))
    t.match(await store.getSyncHealth(merchantId), { cdc: 'streaming', lastEventAt: new Date(at + 2000) })
    t.equal(await store.setCdcHealth(merchantId, { state: 'streaming', error: null }), false, 'the CDC state is not touched by events')
    t.same((await store.getSyncHealth(merchantId)).lastEventAt, new Date(at + 2000), 'nor lastEventAt by CDC reports')
  })

  await t.test('commitImportBatch moves lastImportAt forward only, to importedAt', async (t) => {
    const merchantId = uid('m')
    await store.commitImportBatch({ merchantId, importedAt: new Date(at + 1000) })
    t.same(await store.getSyncHealth(merchantId), { merchantId, cdc: 'stopped', cdcError: null, cdcSince: null, lastEventAt: null, lastImportAt: new Date(at + 1000) })
    await store.commitImportBatch({ merchantId, importedAt: new Date(at), links: [{ sobject: 'Contact', recordId: 'r1', userId: 'u1', email: null }] })
    t.same((await store.getSyncHealth(merchantId)).lastImportAt, new Date(at + 1000), 'an older time is ignored')
    t.ok(await store.findLinkByRecord(merchantId, 'r1'), 'the rest of that batch applied')
    await store.commitImportBatch({ merchantId, links: [{ sobject: 'Contact', recordId: 'r2', userId: 'u2', email: null }] })
    t.same((await store.getSyncHealth(merchantId)).lastImportAt, new Date(at + 1000), 'a batch without importedAt leaves it')
    await store.commitImportBatch({ merchantId, importedAt: new Date(at + 2000) })
    t.same((await store.getSyncHealth(merchantId)).lastImportAt, new Date(at + 2000), 'a newer one moves it')

    const none = uid('m')
    await store.commitImportBatch({ merchantId: none, links: [{ sobject: 'Contact', recordId: 'r1', userId: 'u1', email: null }] })
    t.equal((await store.getSyncHealth(none)).lastImportAt, null)
    await store.commitExportBatch({ merchantId: none, links: [{ sobject: 'Contact', recordId: 'r1', userId: 'u1', email: null }] })
    t.equal((await store.getSyncHealth(none)).lastImportAt, null, 'export batches leave it')
  })

  await t.test('commitImportBatch: lastImportAt rolls back with a failed batch', async (t) => {
    const merchantId = uid('m')
    await store.commitImportBatch({ merchantId, importedAt: new Date(at) })
    const failing = (m: string) => store.commitImportBatch({
      merchantId: m,
      importedAt: new Date(at + 5000),
      links: [{ sobject: 'Contact', recordId: 'r1', userId: 'u1', email: null }],
      // The traces are the last part written and break a constraint: everything before rolls back.
      traces: [{ direction: 'sideways' as SyncDirection, recordId: 'r1', userId: 'u1', email: null, outcome: 'updated', details: null }],
    })
    await t.rejects(failing(merchantId))
    t.same((await store.getSyncHealth(merchantId)).lastImportAt, new Date(at), 'lastImportAt stays')
    t.equal(await store.findLinkByRecord(merchantId, 'r1'), null, 'the rest rolled back too')

    const fresh = uid('m')
    await t.rejects(failing(fresh))
    t.same(await store.getSyncHealth(fresh), { merchantId: fresh, cdc: 'stopped', cdcError: null, cdcSince: null, lastEventAt: null, lastImportAt: null }, 'no row is left either')
  })
}
