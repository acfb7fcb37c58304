/** Contract: record links, one record per user, lookups, keyset pages and forgetUser. */
import type { Test } from 'tap'
import type { NewLink, RecordLink } from '../../../src/store/index.ts'
import { fieldState, uid, type ContractContext } from './helpers.ts'

const link = (merchantId: string, recordId: string, userId: string, email: string | null = null): NewLink =>
  ({ merchantId, sobject: 'Contact', recordId, userId, email })

export async function linksContract(t: Test, { store, open }: ContractContext): Promise<void> {
  await t.test('record links', async (t) => {
    const merchantId = uid('m')
    await store.linkRecord({ merchantId, sobject: 'Contact', recordId: 'r1', userId: 'u1', email: 'one@example.com' })
    await store.linkRecord({ merchantId, sobject: 'Lead', recordId: 'r2', userId: 'u2', email: null })
    await store.linkRecord({ merchantId: uid('m'), sobject: 'Contact', recordId: 'r1', userId: 'u9', email: null })

    t.match(await store.findLinkByRecord(merchantId, 'r1'), { merchantId, sobject: 'Contact', recordId: 'r1', userId: 'u1', email: 'one@example.com' })
    t.type((await store.findLinkByRecord(merchantId, 'r1'))?.updatedAt, Date)
    t.match(await store.findLinkByUser(merchantId, 'u2'), { recordId: 'r2', sobject: 'Lead', email: null })
    t.equal(await store.findLinkByRecord(merchantId, 'r3'), null)
    t.equal(await store.findLinkByUser(merchantId, 'u9'), null, 'links are per merchant')

    const many = await store.findLinksByUsers(merchantId, ['u2', 'u1', 'nobody'])
    t.same(many.map((l) => l.recordId), ['r1', 'r2'], 'by user id')
    t.same(await store.findLinksByUsers(merchantId, []), [])
    t.same((await store.findLinksByRecords(merchantId, ['r2', 'r1', 'r9'])).map((l) => l.userId), ['u1', 'u2'], 'by record id, in record order')
    t.same(await store.findLinksByRecords(merchantId, []), [])

    const moved = await store.linkRecord({ merchantId, sobject: 'Contact', recordId: 'r1', userId: 'u3', email: 'three@example.com' })
    t.same(moved, { recordId: 'r1', userId: 'u3', displacedRecordId: null, previousUserId: 'u1' }, 'the record\'s previous user is reported')
    t.equal(await store.findLinkByUser(merchantId, 'u1'), null, 'relinking moves the record')
    t.match(await store.findLinkByUser(merchantId, 'u3'), { recordId: 'r1', email: 'three@example.com' })
    t.same(await store.linkRecord({ merchantId, sobject: 'Contact', recordId: 'r1', userId: 'u3', email: null }),
      { recordId: 'r1', userId: 'u3', displacedRecordId: null, previousUserId: null }, 'linking again changes no one')
  })

  await t.test('one-to-one: linking a linked user to another record moves the link', async (t) => {
    const merchantId = uid('m')
    await store.linkRecord(link(merchantId, 'r1', 'u1'))
    const result = await store.linkRecord(link(merchantId, 'r2', 'u1'))
    t.same(result, { recordId: 'r2', userId: 'u1', displacedRecordId: 'r1', previousUserId: null }, 'the displaced record is reported')
    t.equal(await store.findLinkByRecord(merchantId, 'r1'), null, 'the old record is unlinked')
    t.equal((await store.findLinkByUser(merchantId, 'u1'))?.recordId, 'r2')
    t.equal((await store.findLinksByUsers(merchantId, ['u1'])).length, 1, 'one record per user')
  })

  await t.test('linkRecords: a batch applies in order with the same rules', async (t) => {
    const merchantId = uid('m')
    await store.linkRecords([link(merchantId, 'r1', 'u1'), link(merchantId, 'r2', 'u2')])
    const results = await store.linkRecords([
      link(merchantId, 'r2', 'u1'), // u1 leaves r1, r2 leaves u2
      link(merchantId, 'r1', 'u2'), // the swap completes
      link(merchantId, 'r3', 'u3'),
      link(merchantId, 'r4', 'u3'), // u3 moves on within the batch
    ])
    t.same(results, [
      { recordId: 'r2', userId: 'u1', displacedRecordId: 'r1', previousUserId: 'u2' },
      { recordId: 'r1', userId: 'u2', displacedRecordId: null, previousUserId: null },
      { recordId: 'r3', userId: 'u3', displacedRecordId: null, previousUserId: null },
      { recordId: 'r4', userId: 'u3', displacedRecordId: 'r3', previousUserId: null },
    ])
    const page = await store.listLinksPage(merchantId)
    t.same(page.data.map((l) => [l.recordId, l.userId]), [['r1', 'u2'], ['r2', 'u1'], ['r4', 'u3']], 'the final links')
    t.same(await store.linkRecords([]), [])
  })

  await t.test('one-to-one holds when two instances link one user at once', async (t) => {
    const other = await open(t)
    const merchantId = uid('m')
    const results = await Promise.all([
      store.linkRecord(link(merchantId, 'r1', 'u1')),
      other.linkRecord(link(merchantId, 'r2', 'u1')),
      store.linkRecords([link(merchantId, 'r3', 'u1')]),
      other.linkRecords([link(merchantId, 'r4', 'u1'), link(merchantId, 'r5', 'u2')]),
    ])
    t.equal(results.length, 4, 'no call failed')
    const links = await store.findLinksByUsers(merchantId, ['u1'])
    t.equal(links.length, 1, 'the user has one record')
    t.ok(await store.findLinkByUser(merchantId, 'u2'))
  })

  await t.test('emails are looked up trimmed and lower-cased', async (t) => {
    const merchantId = uid('m')
    await store.linkRecords([
      link(merchantId, 'r1', 'u1', '  Ada@Example.COM '),
      link(merchantId, 'r2', 'u2', 'ada@example.com'),
      link(merchantId, 'r3', 'u3', 'bob@example.com'),
      link(merchantId, 'r4', 'u4', null),
    ])
    const ada = await store.findLinksByEmails(merchantId, ['ADA@example.com'])
    t.same(ada.map((l) => l.recordId), ['r1', 'r2'], 'every record with the email, in record order')
    t.equal(ada[0]?.email, '  Ada@Example.COM ', 'the email reads back as given')
    t.same((await store.findLinksByEmails(merchantId, [' bob@EXAMPLE.com', 'nobody@example.com'])).map((l) => l.recordId), ['r3'])
    t.same(await store.findLinksByEmails(merchantId, []), [])
    t.same(await store.findLinksByEmails(merchantId, ['  ']), [], 'an empty email matches nothing')
    t.same(await store.findLinksByEmails(uid('m'), ['ada@example.com']), [], 'per merchant')
  })

  await t.test('unlinkRecord removes one link and returns it', async (t) => {
    const merchantId = uid('m')
    await store.linkRecord(link(merchantId, 'r1', 'u1', 'a@example.com'))
    const removed = await store.unlinkRecord(merchantId, 'r1')
    t.match(removed, { merchantId, recordId: 'r1', userId: 'u1', email: 'a@example.com' })
    t.equal(await store.findLinkByUser(merchantId, 'u1'), null)
    t.equal(await store.unlinkRecord(merchantId, 'r1'), null, 'nothing left to remove')
  })

  await t.test('keyset pages and walks of links, in bytewise record id order', async (t) => {
    const merchantId = uid('m')
    const ids = ['003B', '003a', '003A', '003b', '0031', '003Z']
    await store.linkRecords(ids.map((id, i) => link(merchantId, id, `u${i}`)))
    await store.linkRecord(link(uid('m'), '003C', 'u9'))
    const sorted = [...ids].sort()
    const p1 = await store.listLinksPage(merchantId, { limit: 4 })
    t.same(p1.data.map((l) => l.recordId), sorted.slice(0, 4))
    t.equal(p1.next, sorted[3])
    const p2 = await store.listLinksPage(merchantId, { after: p1.next, limit: 4 })
    t.same(p2.data.map((l) => l.recordId), sorted.slice(4))
    t.equal(p2.next, null, 'no next key on the last page')
    t.equal((await store.listLinksPage(merchantId, { limit: 6 })).next, null, 'no next key when the page holds the rest exactly')

    const pages: RecordLink[][] = []
    for await (const page of store.walkLinks(merchantId, { pageSize: 4 })) pages.push(page)
    t.same(pages.map((p) => p.length), [4, 2], 'pages of at most pageSize')
    t.same(pages.flat().map((l) => l.recordId), sorted, 'the walk serves every link once, in order')
    const resumed: string[] = []
    for await (const page of store.walkLinks(merchantId, { pageSize: 5, after: sorted[2] })) resumed.push(...page.map((l) => l.recordId))
    t.same(resumed, sorted.slice(3), 'a walk resumes after a key')
    const exact: number[] = []
    for await (const page of store.walkLinks(merchantId, { pageSize: 3 })) exact.push(page.length)
    t.same(exact, [3, 3], 'no empty page at the end')
    const empty: RecordLink[][] = []
    for await (const page of store.walkLinks(uid('m'))) empty.push(page)
    t.same(empty, [], 'nothing to walk: no page')
  })

  await t.test('forgetUser removes the user\'s links, field states, traces, export versions and parked changes', async (t) => {
    const merchantId = uid('m')
    const otherMerchant = uid('m')
    const at = 1_700_000_000_000
    for (const m of [merchantId, otherMerchant]) {
      await store.linkRecord({ merchantId: m, sobject: 'Contact', recordId: 'r1', userId: 'u1', email: 'one@example.com' })
      await store.linkRecord({ merchantId: m, sobject: 'Contact', recordId: 'r2', userId: 'u2', email: null })
      await store.saveFieldStates([fieldState(m, 'r1', 'Email', 'one@example.com', at, 1), fieldState(m, 'r2', 'Email', 'two@example.com', at, 1)])
      await store.appendTrace({ merchantId: m, direction: 'export', recordId: null, userId: 'u1', email: null, outcome: 'created', details: null })
      await store.appendTrace({ merchantId: m, direction: 'import', recordId: 'r1', userId: null, email: null, outcome: 'skipped', details: null })
      await store.appendTrace({ merchantId: m, direction: 'import', recordId: 'r2', userId: 'u2', email: null, outcome: 'updated', details: null })
      await store.commitExportBatch({ merchantId: m, exportVersions: [
        { userId: 'u1', property: 'email', version: 1, value: 'one@example.com', recordId: 'r1' },
        { userId: 'u2', property: 'email', version: 1, value: 'two@example.com', recordId: 'r2' },
      ] })
      await store.parkExportChanges(m, [{ key: 'u1', properties: { email: { value: 'x', version: 2 } } }, { key: 'u2', properties: { email: { value: 'y', version: 2 } } }])
    }

    await store.forgetUser(merchantId, 'u1')
    t.equal(await store.findLinkByUser(merchantId, 'u1'), null)
    t.equal(await store.findLinkByRecord(merchantId, 'r1'), null)
    t.same(await store.getFieldStates(merchantId, 'r1'), [])
    t.same(await store.listTrace(merchantId, { userId: 'u1', recordId: 'r1' }), [])
    t.same(await store.getExportVersions(merchantId, ['u1']), [])
    t.same((await store.peekParkedChanges(merchantId, 10)).map((p) => p.key), ['u2'])

    t.ok(await store.findLinkByUser(merchantId, 'u2'), 'other users keep their links')
    t.equal((await store.getFieldStates(merchantId, 'r2')).length, 1)
    t.equal((await store.listTrace(merchantId, { userId: 'u2' })).length, 1)
    t.equal((await store.getExportVersions(merchantId, ['u2'])).length, 1)
    t.ok(await store.findLinkByUser(otherMerchant, 'u1'), 'other merchants are untouched')
    t.equal((await store.getFieldStates(otherMerchant, 'r1')).length, 1)
    t.equal((await store.listTrace(otherMerchant, { userId: 'u1', recordId: 'r1' })).length, 2)
    t.equal((await store.getExportVersions(otherMerchant, ['u1'])).length, 1)
    t.equal(await store.countParkedChanges(otherMerchant), 2)
  })
}
