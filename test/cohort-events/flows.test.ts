/**
 * Export end to end (real broker, both stand-ins over HTTP): mode all with required fields and
 * createDefaults, the resolution order, per-record errors from Salesforce and from conversion,
 * injected outages retried, expired tokens refreshed, dead letters, user.deleted.
 */
import t from 'tap'
import { waitFor } from '../helpers/index.ts'
import { collect } from '../kafka/helpers.ts'
import { contactWhere, exportStack, fault, writeCalls } from './helpers.ts'

const backends = (process.env.EXPORT_BACKENDS?.split(',') ?? ['sqlite', 'postgres']) as Array<'sqlite' | 'postgres'>

for (const backend of backends) {
  t.test(`${backend}: mode all creates missing records with the email, the Cohort id, the values, the required fields and createDefaults`, async (t) => {
    const { stack, merchant, contacts, users, saveExport } = await exportStack(t, { backend })
    await saveExport({ mode: 'all', createDefaults: { LeadSource: 'Cohort', Department: 'Loyalty' } })
    const [grace] = await users.create([{ email: 'Grace.Hopper@example.com', properties: { points: 7, tier: 'silver' } }])
    const created = await contactWhere(stack, 'grace.hopper@example.com', (r) => r.Cohort_Points__c === 7, 'grace created')
    t.match(created, { LastName: 'Grace.Hopper', Email: 'Grace.Hopper@example.com', Cohort_User_Id__c: grace, Loyalty_Tier__c: 'Silver', LeadSource: 'Cohort', Department: 'Loyalty' })
    // Salesforce shows the record a moment before the flush's store transaction commits.
    await waitFor(async () => (await stack.store.findLinkByUser(merchant.merchantId, grace!)) !== null, 10_000, 'grace linked')
    t.match(await stack.store.findLinkByUser(merchant.merchantId, grace!), { recordId: created.Id })
    t.match((await stack.store.listTrace(merchant.merchantId, { userId: grace! })).find((e) => e.outcome === 'created'), { recordId: created.Id })

    // The next change updates that record, found by its link; nothing new is created.
    await users.update(grace!, { points: 8 })
    await contactWhere(stack, 'grace.hopper@example.com', (r) => r.Cohort_Points__c === 8, 'update of the created record')
    t.equal((await contacts.list()).length, 1)
  })
}

for (const backend of backends) {
  t.test(`${backend}: resolution order: the link, then cohortUserIdField, then the email`, async (t) => {
    const { stack, merchant, contacts, users, saveExport } = await exportStack(t, { backend })
    await saveExport({ mode: 'existing' })
    const [u1, u2, u3] = await users.create([{ email: 'one@example.com' }, { email: 'two@example.com' }, { email: 'three@example.com' }], false)
    const [linked, byId1, byEmail1, byId2, byEmail2, byEmail3, otherUsers] = await contacts.create([
      { LastName: 'Linked', Email: 'elsewhere@example.com' },
      { LastName: 'ById1', Email: 'x1@example.com', Cohort_User_Id__c: u1 },
      { LastName: 'ByEmail1', Email: 'one@example.com' },
      { LastName: 'ById2', Email: 'x2@example.com', Cohort_User_Id__c: u2 },
      { LastName: 'ByEmail2', Email: 'two@example.com' },
      { LastName: 'ByEmail3', Email: 'three@example.com', Cohort_User_Id__c: 'u_someone_else' },
      { LastName: 'Three', Email: 'THREE@example.com' },
    ], false)
    await stack.store.linkRecord({ merchantId: merchant.merchantId, sobject: 'Contact', recordId: linked!, userId: u1!, email: 'one@example.com' })
    await Promise.all([users.update(u1!, { nickname: 'n1' }), users.update(u2!, { nickname: 'n2' }), users.update(u3!, { nickname: 'n3' })])
    await waitFor(async () => (await contacts.list()).filter((r) => r.Title).length === 3, 20_000, 'three records written')
    const title = new Map((await contacts.list()).map((r) => [r.Id, r.Title]))
    t.equal(title.get(linked!), 'n1', 'u1: its link wins over the Cohort id and the email')
    t.equal(title.get(byId1!), null)
    t.equal(title.get(byEmail1!), null)
    t.equal(title.get(byId2!), 'n2', 'u2: the Cohort id field wins over the email')
    t.equal(title.get(byEmail2!), null)
    t.equal(title.get(byEmail3!), null, 'a record naming another Cohort user is not taken')
    t.equal(title.get(otherUsers!), 'n3', 'u3: matched by email (case-insensitive)')
    t.equal((await contacts.list()).find((r) => r.Id === linked)?.Cohort_User_Id__c, u1, 'the linked record gets the Cohort id')
    await waitFor(async () => (await stack.store.findLinkByUser(merchant.merchantId, u3!)) !== null, 10_000, 'u3 linked')
    t.match(await stack.store.findLinkByUser(merchant.merchantId, u3!), { recordId: otherUsers })
  })
}

for (const backend of backends) {
  t.test(`${backend}: outages retried; per-record errors stored with Salesforce's code, counted by code, retried once fixed`, async (t) => {
    const { stack, merchant, contacts, users, saveExport } = await exportStack(t, { backend })
    await saveExport({ mode: 'existing' })
    const emails = ['a@example.com', 'b@example.com', 'c@example.com', 'd@example.com']
    await contacts.create(emails.map((email, i) => ({ LastName: `R${i}`, Email: email })), false)
    const [a, b, c, d] = await users.create(emails.map((email) => ({ email })), false)

    // Two 503s, then two lock refusals: retried with backoff, the values land.
    await fault(stack, { kind: 'http-503', count: 2, match: '/composite/sobjects' })
    await users.update(a!, { points: 1 })
    await contactWhere(stack, 'a@example.com', (r) => r.Cohort_Points__c === 1, 'written after two 503s')
    await fault(stack, { kind: 'unable-to-lock-row', count: 2, match: '/composite/sobjects' })
    await users.update(a!, { points: 2 })
    await contactWhere(stack, 'a@example.com', (r) => r.Cohort_Points__c === 2, 'written after two lock refusals')

    // Refusals: one by Salesforce, one the bridge's own check (Title holds 128 characters).
    await fault(stack, { kind: 'record-error', errorCode: 'DUPLICATES_DETECTED', count: 1, where: { Cohort_Points__c: 3 } })
    await users.update(b!, { points: 3 })
    await users.update(c!, { nickname: 'x'.repeat(200) })
    await users.update(d!, { points: 4 })
    await contactWhere(stack, 'd@example.com', (r) => r.Cohort_Points__c === 4, 'the others still flow')
    await waitFor(async () => (await merchant.health()).errors === 2, 20_000, 'two open errors')
    const health = await merchant.health()
    t.same(health.errorsByCode, { DUPLICATES_DETECTED: 1, STRING_TOO_LONG: 1 })
    const errors = (await stack.store.listErrors(merchant.merchantId)).data
    t.match(errors.find((e) => e.code === 'DUPLICATES_DETECTED'), { direction: 'export', userId: b, message: 'Use one of these records?', payload: { userId: b, properties: { points: { value: 3 } } } })
    t.match(errors.find((e) => e.code === 'STRING_TOO_LONG'), { direction: 'export', userId: c, message: /max length=128/ })
    t.equal((await contacts.list()).find((r) => r.Email === 'b@example.com')?.Cohort_Points__c, null)

    // The errors route lists them; the cause fixed (the fault is used up), a retry sends the change again.
    const listed = await merchant.api('GET', '/errors')
    t.equal(listed.status, 200)
    t.same(listed.body.data.map((e: any) => e.code).sort(), ['DUPLICATES_DETECTED', 'STRING_TOO_LONG'])
    const dup = listed.body.data.find((e: any) => e.code === 'DUPLICATES_DETECTED')
    t.match(dup, { id: String, direction: 'export', userId: b, email: 'b@example.com', message: 'Use one of these records?', at: String, attempts: 1 })
    t.match(await merchant.api('POST', `/errors/${dup.id}/retry`), { status: 200, body: { retried: 1, skipped: 0 } })
    await contactWhere(stack, 'b@example.com', (r) => r.Cohort_Points__c === 3, 'b written by the retry')
    await waitFor(async () => (await merchant.health()).errors === 1, 20_000, 'b\'s error resolved')
    // Retrying all: the over-long value is refused again, one more attempt.
    t.match(await merchant.api('POST', '/errors/retry'), { status: 200, body: { retried: 1 } })
    await waitFor(async () => (await stack.store.listErrors(merchant.merchantId)).data[0]?.attempts === 2, 20_000, 'refused again')
    t.match(await merchant.api('POST', '/errors/nope/retry'), { status: 404 })
  })
}

t.test('sqlite: expired tokens are refreshed once and the write goes through', async (t) => {
  const { stack, contacts, users, saveExport } = await exportStack(t)
  await saveExport({ mode: 'existing' })
  await contacts.create([{ LastName: 'T', Email: 't@example.com' }], false)
  const [u] = await users.create([{ email: 't@example.com' }], false)
  await users.update(u!, { points: 1 })
  await contactWhere(stack, 't@example.com', (r) => r.Cohort_Points__c === 1, 'first write')
  await fault(stack, { kind: 'expire-tokens' })
  await users.update(u!, { points: 2 })
  await contactWhere(stack, 't@example.com', (r) => r.Cohort_Points__c === 2, 'written after the refresh')
})

for (const backend of backends) {
  t.test(`${backend}: malformed JSON and schema violations go to the DLQ; the partition moves on`, async (t) => {
    const { stack, merchant, contacts, users, saveExport } = await exportStack(t, { backend })
    await saveExport({ mode: 'existing' })
    await contacts.create([{ LastName: 'After', Email: 'after@example.com' }], false)
    const [u] = await users.create([{ email: 'after@example.com' }], false)
    const dlq = collect(t, stack.services.kafka, stack.topics.dlq)
    await dlq.consumer.start()
    const key = `${merchant.merchantId}:${u}`
    await stack.services.kafka.produce(stack.topics.cohortEvents, [
      { key, value: '{not json' },
      { key, value: JSON.stringify({ id: 'e1', type: 'user.exploded', merchantId: merchant.merchantId, userId: u }) },
    ])
    await users.update(u!, { points: 9 })
    await contactWhere(stack, 'after@example.com', (r) => r.Cohort_Points__c === 9, 'the event after the bad ones')
    await dlq.waitForCount(2)
    const letters = dlq.received.map((r) => JSON.parse(r.value!))
    t.match(letters[0], { topic: stack.topics.cohortEvents, partition: Number, offset: String, key, value: '{not json', error: { code: 'export.invalid-message', message: /^not JSON/ }, failedAt: String })
    t.match(letters[1].error, { code: 'export.invalid-message', message: /^breaks the user event schema/ })
  })
}

for (const backend of backends) {
  t.test(`${backend}: user.deleted forgets the user (link, versions, traces); the record stays`, async (t) => {
    const { stack, merchant, contacts, users, saveExport } = await exportStack(t, { backend })
    await saveExport({ mode: 'existing' })
    const [recordId] = await contacts.create([{ LastName: 'Gone', Email: 'gone@example.com' }], false)
    const [u] = await users.create([{ email: 'gone@example.com' }], false)
    await users.update(u!, { points: 1 })
    await contactWhere(stack, 'gone@example.com', (r) => r.Cohort_Points__c === 1, 'written')
    await waitFor(async () => (await stack.store.findLinkByUser(merchant.merchantId, u!)) !== null, 10_000, 'linked')
    const res = await fetch(`${stack.cohort.url}/__sandbox/merchants/${merchant.merchantId}/users/${u}`, { method: 'DELETE' })
    t.ok(res.ok)
    await waitFor(async () => (await stack.store.findLinkByUser(merchant.merchantId, u!)) === null, 20_000, 'link forgotten')
    t.same(await stack.store.getExportVersions(merchant.merchantId, [u!]), [])
    t.same(await stack.store.listTrace(merchant.merchantId, { userId: u! }), [])
    t.ok((await contacts.list()).some((r) => r.Id === recordId), 'the Salesforce record is kept')
    t.ok((await writeCalls(stack)) >= 1)
  })
}
