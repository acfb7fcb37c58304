/** Contract: one transaction per import or export batch, all or nothing. */
import type { Test } from 'tap'
import type { SyncDirection } from '../../../src/store/index.ts'
import { fieldState, uid, type ContractContext } from './helpers.ts'

const at = 1_700_000_000_000

export async function batchesContract(t: Test, { store }: ContractContext): Promise<void> {
  await t.test('import batch: links, unlinks, field states, errors and traces in one go', async (t) => {
    const merchantId = uid('m')
    await store.linkRecords([
      { merchantId, sobject: 'Contact', recordId: 'r1', userId: 'u1', email: null },
      { merchantId, sobject: 'Contact', recordId: 'gone', userId: 'u9', email: null },
    ])
    await store.saveFieldStates([fieldState(merchantId, 'r2', 'Email', 'newer@example.com', at + 10, 0)])
    const open = await store.recordError({ merchantId, direction: 'import', recordId: 'r2', code: 'INVALID_EMAIL_ADDRESS', message: 'bad' })

    const result = await store.commitImportBatch({
      merchantId,
      unlinks: ['gone', 'never-linked'],
      links: [{ sobject: 'Contact', recordId: 'r2', userId: 'u1', email: 'Two@Example.com' }],
      fieldStates: [
        { recordId: 'r2', field: 'Email', value: 'older@example.com', changedAt: new Date(at), sequence: 0, direction: 'import' },
        { recordId: 'r2', field: 'Phone', value: '+1', changedAt: new Date(at), sequence: 0, direction: 'import' },
      ],
      resolveErrors: [{ direction: 'import', recordId: 'r2' }],
      errors: [{ direction: 'import', recordId: 'r3', code: 'STRING_TOO_LONG', message: 'too long' }],
      traces: [{ direction: 'import', recordId: 'r2', userId: 'u1', email: 'two@example.com', outcome: 'updated', details: { fields: ['Phone'] } }],
    })
    t.same(result.links, [{ recordId: 'r2', userId: 'u1', displacedRecordId: 'r1', previousUserId: null }], 'the displaced record is reported')
    t.same(result.unlinked.map((l) => l.recordId), ['gone'], 'the links the unlinks removed')
    t.same(result.fieldStates, [{ recordId: 'r2', field: 'Phone' }], 'only the newer field states were written')
    t.equal(result.resolvedErrors, 1)
    t.match(result.errors, [{ merchantId, recordId: 'r3', code: 'STRING_TOO_LONG', attempts: 1 }])

    t.equal(await store.findLinkByRecord(merchantId, 'r1'), null)
    t.equal(await store.findLinkByRecord(merchantId, 'gone'), null)
    t.same((await store.findLinksByEmails(merchantId, ['two@example.com'])).map((l) => l.userId), ['u1'])
    t.same((await store.getFieldStates(merchantId, 'r2')).map((s) => [s.field, s.value]), [['Email', 'newer@example.com'], ['Phone', '+1']])
    t.not((await store.getError(merchantId, open.id))?.resolvedAt, null, 'resolved')
    t.same(await store.countErrorsByCode(merchantId), { STRING_TOO_LONG: 1 })
    t.match(await store.listTrace(merchantId, { recordId: 'r2' }), [{ outcome: 'updated', details: { fields: ['Phone'] } }])

    const empty = await store.commitImportBatch({ merchantId })
    t.same(empty, { unlinked: [], links: [], fieldStates: [], resolvedErrors: 0, errors: [] }, 'an empty batch is fine')
  })

  await t.test('import batch: a refused record resolved and refused again in one batch stays open', async (t) => {
    const merchantId = uid('m')
    await store.recordError({ merchantId, direction: 'import', recordId: 'r1', code: 'X', message: 'first' })
    await store.commitImportBatch({ merchantId, resolveErrors: [{ direction: 'import', recordId: 'r1' }], errors: [{ direction: 'import', recordId: 'r1', code: 'X', message: 'again' }] })
    t.equal(await store.countErrors(merchantId), 1)
  })

  await t.test('import batch: all or nothing when one part fails', async (t) => {
    const merchantId = uid('m')
    await store.linkRecord({ merchantId, sobject: 'Contact', recordId: 'r0', userId: 'u0', email: null })
    const open = await store.recordError({ merchantId, direction: 'import', recordId: 'r1', code: 'X', message: 'x' })
    await t.rejects(store.commitImportBatch({
      merchantId,
      unlinks: ['r0'],
      links: [{ sobject: 'Contact', recordId: 'r1', userId: 'u1', email: 'a@example.com' }],
      fieldStates: [fieldState(merchantId, 'r1', 'Email', 'a@example.com', at, 1)],
      resolveErrors: [{ direction: 'import', recordId: 'r1' }],
      errors: [{ direction: 'import', recordId: 'r2', code: 'Y', message: 'y' }],
      // The last part written breaks a constraint: everything before it must roll back.
      traces: [{ direction: 'sideways' as SyncDirection, recordId: 'r1', userId: 'u1', email: null, outcome: 'updated', details: null }],
    }))
    t.ok(await store.findLinkByRecord(merchantId, 'r0'), 'the unlink rolled back')
    t.equal(await store.findLinkByRecord(merchantId, 'r1'), null, 'no link')
    t.same(await store.getFieldStates(merchantId, 'r1'), [], 'no field state')
    t.equal((await store.getError(merchantId, open.id))?.resolvedAt, null, 'no resolution')
    t.equal(await store.countErrors(merchantId), 1, 'no new error')
    t.same(await store.listTrace(merchantId, { recordId: 'r1' }), [], 'no trace')
  })

  await t.test('batches refuse entries of another merchant', async (t) => {
    const merchantId = uid('m')
    await t.rejects(store.commitImportBatch({ merchantId, fieldStates: [fieldState(uid('m'), 'r1', 'Email', 'x', at, 1)] }), { code: 'internal' })
    await t.rejects(store.commitExportBatch({ merchantId, links: [{ merchantId: uid('m'), sobject: 'Contact', recordId: 'r1', userId: 'u1', email: null }] }), { code: 'internal' })
    t.equal(await store.findLinkByRecord(merchantId, 'r1'), null)
  })

  await t.test('export batch: versions per user and property apply only when higher', async (t) => {
    const merchantId = uid('m')
    const first = await store.commitExportBatch({
      merchantId,
      links: [{ sobject: 'Contact', recordId: 'r1', userId: 'u1', email: 'a@example.com' }],
      exportVersions: [
        { userId: 'u1', property: 'email', version: 3, value: 'a@example.com', recordId: 'r1' },
        { userId: 'u1', property: 'phone', version: 3, value: '+1', recordId: 'r1' },
        { userId: 'u1', property: 'phone', version: 2, value: '+0', recordId: 'r1' },
        { userId: 'u2', property: 'email', version: 1, value: null, recordId: null },
      ],
      fieldStates: [{ recordId: 'r1', field: 'Email', value: 'a@example.com', changedAt: new Date(at), sequence: 3, direction: 'export' }],
      traces: [{ direction: 'export', recordId: 'r1', userId: 'u1', email: 'a@example.com', outcome: 'created', details: null }],
    })
    t.same(first.exportVersions.map((v) => `${v.userId}.${v.property}`).sort(), ['u1.email', 'u1.phone', 'u2.email'])
    t.same(first.fieldStates, [{ recordId: 'r1', field: 'Email' }])
    t.same(first.links, [{ recordId: 'r1', userId: 'u1', displacedRecordId: null, previousUserId: null }])

    const second = await store.commitExportBatch({
      merchantId,
      exportVersions: [
        { userId: 'u1', property: 'email', version: 3, value: 'tie@example.com', recordId: 'r1' },
        { userId: 'u1', property: 'phone', version: 2, value: 'older', recordId: 'r1' },
        { userId: 'u1', property: 'name', version: 1, value: 'Ada', recordId: 'r1' },
        { userId: 'u2', property: 'email', version: 4, value: 'b@example.com', recordId: 'r2' },
      ],
    })
    t.same(second.exportVersions.map((v) => `${v.userId}.${v.property}`).sort(), ['u1.name', 'u2.email'], 'per property, never one watermark per user')
    const versions = await store.getExportVersions(merchantId, ['u2', 'u1', 'nobody'])
    t.same(versions.map((v) => [v.userId, v.property, v.version, v.value, v.recordId]), [
      ['u1', 'email', 3, 'a@example.com', 'r1'],
      ['u1', 'name', 1, 'Ada', 'r1'],
      ['u1', 'phone', 3, '+1', 'r1'],
      ['u2', 'email', 4, 'b@example.com', 'r2'],
    ])
    t.type(versions[0]?.updatedAt, Date)
    t.same(await store.getExportVersions(merchantId, []), [])
    t.same(await store.getExportVersions(uid('m'), ['u1']), [], 'per merchant')
  })

  await t.test('export batch: the parked entries it applied are acknowledged with it, one parked again meanwhile stays', async (t) => {
    const merchantId = uid('m')
    await store.parkExportChanges(merchantId, [{ key: 'u1', properties: { points: { value: 1, version: 1 } } }, { key: 'u2', properties: { points: { value: 1, version: 1 } } }, { key: 'u3', properties: { points: { value: 1, version: 1 } } }])
    const page = await store.peekParkedChanges(merchantId, 10)
    await store.parkExportChanges(merchantId, [{ key: 'u2', properties: { points: { value: 2, version: 2 } } }])
    const result = await store.commitExportBatch({
      merchantId,
      exportVersions: [{ userId: 'u1', property: 'points', version: 1, value: 1, recordId: 'r1' }],
      parkedAcks: page.filter((p) => p.key !== 'u3').map(({ key, seq }) => ({ key, seq })),
    })
    t.equal(result.parkedAcked, 1, 'u1 acknowledged; u2 was parked again, u3 not applied')
    t.same((await store.peekParkedChanges(merchantId, 10)).map((p) => p.key), ['u2', 'u3'])
    t.equal((await store.commitExportBatch({ merchantId })).parkedAcked, 0, 'no acks: none deleted')
  })

  await t.test('export batch: all or nothing when one part fails', async (t) => {
    const merchantId = uid('m')
    await store.parkExportChanges(merchantId, [{ key: 'u1', properties: { points: { value: 1, version: 1 } } }])
    const page = await store.peekParkedChanges(merchantId, 10)
    await t.rejects(store.commitExportBatch({
      merchantId,
      links: [{ sobject: 'Contact', recordId: 'r1', userId: 'u1', email: null }],
      exportVersions: [{ userId: 'u1', property: 'email', version: 1, value: 'a', recordId: 'r1' }],
      errors: [{ direction: 'sideways' as SyncDirection, userId: 'u1', code: 'X', message: 'x' }],
      parkedAcks: page.map(({ key, seq }) => ({ key, seq })),
    }))
    t.equal(await store.findLinkByUser(merchantId, 'u1'), null)
    t.same(await store.getExportVersions(merchantId, ['u1']), [])
    t.equal(await store.countParkedChanges(merchantId), 1, 'the parked entry stays')
  })
}
