/**
 * Conformance of the Streaming API with jsforce 3 (faye underneath): CDC events arrive on
 * `/data/ContactChangeEvent` through `conn.streaming.createClient` with jsforce's own Replay
 * extension (`-2`, then a stored replay id after a restart), and the AuthFailure extension
 * sees `401::Authentication invalid` when the token dies.
 */
import t from 'tap'
import jsforce from 'jsforce'
import { StreamingExtension } from 'jsforce/lib/api/streaming.js'
import { connect, startSandbox } from './login.ts'
import { admin, disconnectFaye, Inbox, rest, type Message } from './streaming-helpers.ts'

/** What faye hands a subscriber: the message's `data`. */
type EventData = NonNullable<Message['data']>

const VERSION = '62.0'
const CHANNEL = '/data/ContactChangeEvent'

type FayeClient = ReturnType<jsforce.Connection['streaming']['createClient']>

t.test('jsforce streaming with the Replay extension: -2, live events, then resume from a stored id', async (t) => {
  const sandbox = await startSandbox(t, { streaming: { connectTimeoutMs: 2000 } })
  const tokens = await connect(sandbox.url)
  const conn = new jsforce.Connection({ instanceUrl: tokens.instance_url, accessToken: tokens.access_token, version: VERSION })
  const identity = await conn.identity()

  // Two events before anyone listens: only -2 brings them.
  const created = (await rest(sandbox.url, tokens.access_token, 'POST', '/composite/sobjects', {
    records: [
      { attributes: { type: 'Contact' }, FirstName: 'Ada', LastName: 'Byron', Email: 'ada@example.com' },
      { attributes: { type: 'Contact' }, LastName: 'Babbage' },
    ],
  })).body as { id: string }[]

  const clients: FayeClient[] = []
  t.teardown(() => Promise.all(clients.map((c) => disconnectFaye(c))))

  const inbox = new Inbox<EventData>()
  const replay = new StreamingExtension.Replay(CHANNEL, -2)
  const client = conn.streaming.createClient([replay])
  clients.push(client)
  await client.subscribe(CHANNEL, (m: EventData) => inbox.push(m))
  const [first, second] = await inbox.waitFor(2)

  t.type(first!.schema, 'string')
  const header = first!.payload.ChangeEventHeader
  t.match(header, {
    entityName: 'Contact', recordIds: [created[0]!.id], changeType: 'CREATE',
    changeOrigin: `com/salesforce/api/rest/${VERSION};client=cohort-bridge`, sequenceNumber: 1,
    commitUser: identity.user_id, changedFields: [],
  })
  t.type(header.transactionKey, 'string')
  t.type(header.commitTimestamp, 'number')
  t.type(header.commitNumber, 'number')
  t.equal(second!.payload.ChangeEventHeader.transactionKey, header.transactionKey, 'one transaction for the request')
  t.equal(second!.payload.ChangeEventHeader.sequenceNumber, 2)
  t.ok(second!.event.replayId > first!.event.replayId, 'replay ids grow')

  // A live change, delivered on the held connect.
  await rest(sandbox.url, tokens.access_token, 'PATCH', `/sobjects/Contact/${created[0]!.id}`, { FirstName: 'Augusta', Email: null })
  const [, , updated] = await inbox.waitFor(3)
  t.same(updated!.payload.ChangeEventHeader.changedFields, ['Name.FirstName', 'Email', 'LastModifiedDate'])
  t.match(updated!.payload, { Name: { FirstName: 'Augusta' }, Email: null })
  const stored = updated!.event.replayId

  // The bridge stops; more changes happen; it comes back with the stored replay id.
  await disconnectFaye(client)
  await admin(sandbox.url, 'DELETE', `/records/Contact/${created[1]!.id}`)
  await admin(sandbox.url, 'PATCH', `/records/Contact/${created[0]!.id}`, { fields: { Title: 'Countess' } })

  const resumed = new Inbox<EventData>()
  const client2 = conn.streaming.createClient([new StreamingExtension.Replay(CHANNEL, stored)])
  clients.push(client2)
  await client2.subscribe(CHANNEL, (m: EventData) => resumed.push(m))
  const [deleted, uiUpdate] = await resumed.waitFor(2)
  t.same(deleted!.payload, {
    ChangeEventHeader: { ...deleted!.payload.ChangeEventHeader, changeType: 'DELETE', recordIds: [created[1]!.id], changeOrigin: '' },
  }, 'a delete carries the header only; UI changes have no changeOrigin')
  t.match(uiUpdate!.payload, {
    ChangeEventHeader: { changeType: 'UPDATE', changedFields: ['Title', 'LastModifiedDate', 'LastModifiedById'], changeOrigin: '' },
    Title: 'Countess',
  }, 'LastModifiedById is listed when someone else modified the record before')
  t.ok(resumed.items.every((m) => m.event.replayId > stored), 'only events after the stored id')

  const stats = await admin(sandbox.url, 'GET', '/stats')
  t.match(stats.body, { cometd: { clients: 1 }, events: { published: 5 } })
})

t.test('jsforce AuthFailure extension sees 401::Authentication invalid when the token dies', async (t) => {
  const sandbox = await startSandbox(t, { streaming: { connectTimeoutMs: 60_000 } })
  const tokens = await connect(sandbox.url)
  const conn = new jsforce.Connection({ instanceUrl: tokens.instance_url, accessToken: tokens.access_token, version: VERSION })
  const failures = new Inbox<Message>()
  const client = conn.streaming.createClient([new StreamingExtension.AuthFailure((m: Message) => failures.push(m))])
  t.teardown(() => disconnectFaye(client))
  const live = new Inbox<EventData>()
  await client.subscribe(CHANNEL, (m: EventData) => live.push(m))

  // The held connect is answered with the error as soon as something wakes it.
  await admin(sandbox.url, 'POST', '/faults', { kind: 'expire-tokens' })
  await admin(sandbox.url, 'POST', '/records/Contact', { records: [{ LastName: 'Wake' }] })
  const [failure] = await failures.waitFor(1)
  t.match(failure, { channel: '/meta/connect', successful: false, error: '401::Authentication invalid', advice: { reconnect: 'none' } })
  t.equal(live.items.length, 0, 'no event is delivered on a dead token')
  t.match((await admin(sandbox.url, 'GET', '/stats')).body, { cometd: { clients: 0 } }, 'the session is gone')
})
