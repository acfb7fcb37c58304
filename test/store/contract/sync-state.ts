/** Contract: clearMerchantSyncState (another org was connected). */
import type { Test } from 'tap'
import { fieldState, takeLease, uid, type ContractContext } from './helpers.ts'

export async function syncStateContract(t: Test, { store }: ContractContext): Promise<void> {
  await t.test('clearMerchantSyncState forgets sync state and health, keeps settings, audit, job runs and parked changes only', async (t) => {
    const merchantId = uid('m')
    const otherMerchant = uid('m')
    const lease = await takeLease(store)
    for (const m of [merchantId, otherMerchant]) {
      await store.linkRecord({ merchantId: m, sobject: 'Contact', recordId: 'r1', userId: 'u1', email: null })
      await store.saveFieldStates([fieldState(m, 'r1', 'Email', 'x@example.com', 1_700_000_000_000, 1)])
      await store.saveReplayId(m, '/data/ContactChangeEvent', 7, { lease })
      await store.requestReplay(m, '/data/ContactChangeEvent', 3)
      await store.appendTrace({ merchantId: m, direction: 'import', recordId: 'r1', userId: 'u1', email: null, outcome: 'updated', details: null })
      await store.recordError({ merchantId: m, direction: 'import', recordId: 'r1', code: 'INVALID_EMAIL', message: 'bad' })
      await store.saveSettings(m, { import: { a: 1 }, export: {} })
      await store.appendAudit({ merchantId: m, actor: 'user-1', action: 'connect', details: { orgId: 'x' } })
      await store.claimJobRun(m, 'reconcile', { dryRun: false })
      await store.commitExportBatch({ merchantId: m, exportVersions: [{ userId: 'u1', property: 'email', version: 1, value: 'x', recordId: 'r1' }] })
      await store.parkExportChanges(m, [{ key: 'u1', properties: { email: { value: 'y', version: 2 } } }])
      await store.setExportPause(m, { reason: 'limit', until: null })
      await store.setCdcHealth(m, { state: 'failed', error: { code: 'X', message: 'x', action: 'y' } })
      await store.noteCdcEvent(m, new Date(1_700_000_000_000))
      await store.commitImportBatch({ merchantId: m, importedAt: new Date(1_700_000_000_000) })
    }

    await store.clearMerchantSyncState(merchantId)
    t.equal(await store.findLinkByRecord(merchantId, 'r1'), null)
    t.same(await store.getFieldStates(merchantId, 'r1'), [])
    t.equal(await store.getReplayId(merchantId, '/data/ContactChangeEvent'), null)
    t.equal(await store.takeReplayRequest(merchantId), null)
    t.same(await store.listTrace(merchantId, { userId: 'u1' }), [])
    t.equal(await store.countErrors(merchantId), 0)
    t.same(await store.getExportVersions(merchantId, ['u1']), [])
    t.equal(await store.getExportPause(merchantId), null)
    t.same(await store.getSyncHealth(merchantId), { merchantId, cdc: 'stopped', cdcError: null, cdcSince: null, lastEventAt: null, lastImportAt: null }, 'sync health is forgotten')
    t.match(await store.getSettings(merchantId), { import: { a: 1 } }, 'settings stay')
    t.equal((await store.listAudit(merchantId)).data.length, 1, 'audit stays')
    t.ok(await store.getLatestJobRun(merchantId, 'reconcile'), 'job runs stay')
    t.equal(await store.countParkedChanges(merchantId), 1, 'parked Cohort changes stay')

    t.ok(await store.findLinkByRecord(otherMerchant, 'r1'), 'other merchants are untouched')
    t.equal((await store.getFieldStates(otherMerchant, 'r1')).length, 1)
    t.equal(await store.getReplayId(otherMerchant, '/data/ContactChangeEvent'), 7)
    t.equal((await store.listTrace(otherMerchant, { userId: 'u1' })).length, 1)
    t.equal(await store.countErrors(otherMerchant), 1)
    t.equal((await store.getExportVersions(otherMerchant, ['u1'])).length, 1)
    t.ok(await store.getExportPause(otherMerchant))
    t.match(await store.getSyncHealth(otherMerchant), { cdc: 'failed', lastEventAt: new Date(1_700_000_000_000), lastImportAt: new Date(1_700_000_000_000) })
  })
}
