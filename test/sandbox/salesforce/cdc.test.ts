/**
 * Change Data Capture payloads as they arrive over CometD: bodies per change type, compound
 * Name and address fields, merged events for the same change to several records in one
 * request, gap and overflow events, raw publication, `/data/ChangeEvents`, custom objects,
 * and orgs kept apart.
 */
import t from 'tap'
import { connect, ORG2_USER, startSandbox } from './login.ts'
import { admin, eventsOf, RawBayeux, rest, type Message } from './streaming-helpers.ts'

const ORIGIN = 'com/salesforce/api/rest/62.0;client=cohort-bridge'

async function subscribed(t: { teardown(fn: () => unknown): void }, url: string, token: string, channel: string): Promise<{ client: RawBayeux; next: () => Promise<Message[]> }> {
  const client = new RawBayeux(url, token)
  t.teardown(() => client.disconnect())
  const reply = await client.open(channel)
  if (!reply.successful) throw new Error(`subscribe failed: ${String(reply.error)}`)
  return { client, next: async () => eventsOf(await client.connect()) }
}

t.test('bodies: CREATE has every non-empty field, UPDATE only changes, DELETE the header, UNDELETE the record', async (t) => {
  const sandbox = await startSandbox(t, { streaming: { connectTimeoutMs: 5000 } })
  const tokens = await connect(sandbox.url)
  const { next } = await subscribed(t, sandbox.url, tokens.access_token, '/data/ContactChangeEvent')

  const created = await rest(sandbox.url, tokens.access_token, 'POST', '/sobjects/Contact', {
    FirstName: 'Ada', LastName: 'Byron', Email: 'ada@example.com', MailingCity: 'London', MailingCountry: 'UK',
    Cohort_Points__c: 12, Cohort_Opt_In__c: true, Cohort_Member_Since__c: '2024-01-02', Cohort_Last_Seen__c: '2024-05-29T16:26:40.000Z',
  })
  const id = (created.body as { id: string }).id
  const [create] = await next()
  t.equal(create!.channel, '/data/ContactChangeEvent')
  const { ChangeEventHeader: header, ...body } = create!.data!.payload
  t.same(Object.keys(header), ['entityName', 'recordIds', 'changeType', 'changeOrigin', 'transactionKey', 'sequenceNumber', 'commitTimestamp', 'commitNumber', 'commitUser', 'changedFields'])
  t.match(header, { entityName: 'Contact', recordIds: [id], changeType: 'CREATE', changeOrigin: ORIGIN, sequenceNumber: 1, changedFields: [] })
  t.match(header.transactionKey, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
  t.match(body, {
    Name: { FirstName: 'Ada', LastName: 'Byron' }, Email: 'ada@example.com', MailingAddress: { City: 'London', Country: 'UK' },
    Cohort_Points__c: 12, Cohort_Opt_In__c: true, Cohort_Member_Since__c: '2024-01-02', Cohort_Last_Seen__c: '2024-05-29T16:26:40.000Z',
    OwnerId: header.commitUser, CreatedById: header.commitUser, LastModifiedById: header.commitUser,
    HasOptedOutOfEmail: false,
  })
  t.match(body.CreatedDate, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
  for (const never of ['Id', 'IsDeleted', 'SystemModstamp', 'FirstName', 'LastName', 'MailingCity', 'Phone', 'LastActivityDate']) {
    t.notOk(never in body, `${never} is not in a CREATE body`)
  }
  t.type(create!.data!.schema, 'string')
  t.same(Object.keys(create!.data!.event), ['replayId'])

  await rest(sandbox.url, tokens.access_token, 'PATCH', `/sobjects/Contact/${id}`, { LastName: 'Lovelace', Email: null, MailingCity: 'Paris', Cohort_Points__c: 13 })
  const [update] = await next()
  t.same(Object.keys(update!.data!.payload).sort(), ['ChangeEventHeader', 'Cohort_Points__c', 'Email', 'LastModifiedDate', 'MailingAddress', 'Name'])
  t.match(update!.data!.payload, {
    ChangeEventHeader: { changeType: 'UPDATE', changedFields: ['Name.LastName', 'Email', 'MailingAddress.City', 'Cohort_Points__c', 'LastModifiedDate'] },
    Name: { LastName: 'Lovelace' }, Email: null, MailingAddress: { City: 'Paris' }, Cohort_Points__c: 13,
  })
  t.same(update!.data!.payload.Name, { LastName: 'Lovelace' }, 'only the changed component')

  await rest(sandbox.url, tokens.access_token, 'DELETE', `/sobjects/Contact/${id}`)
  const [del] = await next()
  t.same(Object.keys(del!.data!.payload), ['ChangeEventHeader'])
  t.match(del!.data!.payload.ChangeEventHeader, { changeType: 'DELETE', recordIds: [id], changedFields: [] })

  await admin(sandbox.url, 'POST', `/records/Contact/${id}/undelete`)
  const [undelete] = await next()
  t.match(undelete!.data!.payload, { ChangeEventHeader: { changeType: 'UNDELETE', changeOrigin: '', changedFields: [] }, Name: { FirstName: 'Ada', LastName: 'Lovelace' }, MailingAddress: { City: 'Paris' } })
  t.notOk('Email' in undelete!.data!.payload, 'a cleared field is absent from a full body')
})

t.test('merged events: the same change to several records in one request is one event', async (t) => {
  const sandbox = await startSandbox(t, { streaming: { connectTimeoutMs: 5000 } })
  const tokens = await connect(sandbox.url)
  const { next } = await subscribed(t, sandbox.url, tokens.access_token, '/data/LeadChangeEvent')
  const created = (await rest(sandbox.url, tokens.access_token, 'POST', '/composite/sobjects', {
    records: [1, 2, 3].map((i) => ({ attributes: { type: 'Lead' }, LastName: `L${i}`, Company: 'Acme' })),
  })).body as { id: string }[]
  const ids = created.map((r) => r.id)
  const creates = await next()
  t.equal(creates.length, 3, 'creates are never merged')
  t.same(creates.map((m) => m.data!.payload.ChangeEventHeader.sequenceNumber), [1, 2, 3])

  await rest(sandbox.url, tokens.access_token, 'PATCH', '/composite/sobjects', {
    records: [
      ...ids.map((id) => ({ attributes: { type: 'Lead' }, id, Rating: 'Hot' })),
      { attributes: { type: 'Lead' }, id: ids[0], Title: 'Boss' },
    ],
  })
  const updates = await next()
  t.equal(updates.length, 2)
  t.match(updates[0]!.data!.payload, { ChangeEventHeader: { changeType: 'UPDATE', recordIds: ids, changedFields: ['Rating', 'LastModifiedDate'], sequenceNumber: 1 }, Rating: 'Hot' })
  t.match(updates[1]!.data!.payload, { ChangeEventHeader: { recordIds: [ids[0]], changedFields: ['Title', 'LastModifiedDate'], sequenceNumber: 2 } })
  t.equal(updates[0]!.data!.payload.ChangeEventHeader.transactionKey, updates[1]!.data!.payload.ChangeEventHeader.transactionKey)

  await rest(sandbox.url, tokens.access_token, 'DELETE', `/composite/sobjects?ids=${ids.slice(0, 2).join(',')}`)
  const [deleted, ...rest_] = await next()
  t.equal(rest_.length, 0)
  t.same(deleted!.data!.payload, { ChangeEventHeader: { ...deleted!.data!.payload.ChangeEventHeader, changeType: 'DELETE', recordIds: ids.slice(0, 2), changeOrigin: ORIGIN } })
})

t.test('gap and overflow events on demand, raw publication, /data/ChangeEvents, custom objects, orgs apart', async (t) => {
  const sandbox = await startSandbox(t, { streaming: { connectTimeoutMs: 5000 } })
  const tokens = await connect(sandbox.url)
  const all = await subscribed(t, sandbox.url, tokens.access_token, '/data/ChangeEvents')
  const contacts = await subscribed(t, sandbox.url, tokens.access_token, '/data/ContactChangeEvent')
  const org2 = await connect(sandbox.url, ORG2_USER)
  const other = await subscribed(t, sandbox.url, org2.access_token, '/data/ChangeEvents')

  const { body } = await admin(sandbox.url, 'POST', '/records/Contact', { records: [{ LastName: 'Gap' }] })
  const [id] = body.ids as string[]
  const gap = await admin(sandbox.url, 'POST', '/events', { kind: 'gap', object: 'Contact', recordIds: [id], changeType: 'UPDATE' })
  t.equal(gap.status, 201)
  const overflow = await admin(sandbox.url, 'POST', '/events', { kind: 'overflow', object: 'Contact' })
  const lead = await admin(sandbox.url, 'POST', '/records/Lead', { records: [{ LastName: 'L', Company: 'C' }] })
  // Custom objects publish once selected for CDC.
  t.equal((await admin(sandbox.url, 'POST', '/cdc', { object: 'Member__c', enabled: true })).status, 200)
  const member = await admin(sandbox.url, 'POST', '/records/Member__c', { records: [{ Email__c: 'm@example.com' }] })

  const everything = await all.next()
  t.same(everything.map((m) => [m.channel, m.data!.payload.ChangeEventHeader.entityName, m.data!.payload.ChangeEventHeader.changeType]), [
    ['/data/ChangeEvents', 'Contact', 'CREATE'],
    ['/data/ChangeEvents', 'Contact', 'GAP_UPDATE'],
    ['/data/ChangeEvents', 'Contact', 'GAP_OVERFLOW'],
    ['/data/ChangeEvents', 'Lead', 'CREATE'],
    ['/data/ChangeEvents', 'Member__c', 'CREATE'],
  ])
  t.same(everything[1]!.data!.payload, {
    ChangeEventHeader: { ...everything[1]!.data!.payload.ChangeEventHeader, recordIds: [id], changeOrigin: '', changedFields: [], sequenceNumber: 1 },
  }, 'a gap event is a header only')
  t.equal(everything[1]!.data!.event.replayId, gap.body.replayId)
  t.same(everything[2]!.data!.payload.ChangeEventHeader.recordIds, ['000000000000000AAA'])
  t.equal(everything[2]!.data!.event.replayId, overflow.body.replayId)
  t.match(everything[4]!.data!.payload, { Email__c: 'm@example.com', Name: (member.body.ids as string[])[0] })
  t.ok(lead.status === 201)

  const contactOnly = await contacts.next()
  t.same(contactOnly.map((m) => m.data!.event.replayId), everything.slice(0, 3).map((m) => m.data!.event.replayId), 'same replay ids on both channels')

  // Raw publication on any channel.
  const topic = await subscribed(t, sandbox.url, tokens.access_token, '/event/Loyalty_Update__e')
  const published = await admin(sandbox.url, 'POST', '/publish', { channel: '/event/Loyalty_Update__e', payload: { Points__c: 5, CreatedDate: '2024-05-29T16:26:40.000Z' } })
  t.equal(published.status, 201)
  const [raw] = await topic.next()
  t.same(raw, { channel: '/event/Loyalty_Update__e', data: { schema: raw!.data!.schema, payload: { Points__c: 5, CreatedDate: '2024-05-29T16:26:40.000Z' }, event: { EventUuid: raw!.data!.event.EventUuid, replayId: published.body.replayId } } })
  t.match(raw!.data!.event.EventUuid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'platform events carry an EventUuid')
  t.match((await admin(sandbox.url, 'POST', '/publish', { channel: 'nope', payload: {} })).body, { error: { code: 'invalid-request' } })
  t.equal((await admin(sandbox.url, 'POST', '/events', { kind: 'gap', object: 'Contact' })).status, 400, 'a gap names records')

  // Org 2 saw nothing of org 1; its own change arrives.
  await admin(sandbox.url, 'POST', '/records/Contact?org=2', { records: [{ LastName: 'Other' }] })
  const seen2 = await other.next()
  t.same(seen2.map((m) => m.data!.payload.ChangeEventHeader.entityName), ['Contact'])
  t.match((await admin(sandbox.url, 'GET', '/stats')).body, { cometd: { clients: 4 }, events: { published: 7 } })
})
