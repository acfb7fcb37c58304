/**
 * The streaming faults of the stand-in additions: a server-sent `/meta/disconnect` (advice
 * `none` or `handshake`, on a held connect or on the next request), a long-poll whose TCP
 * socket is destroyed (the session lives on, nothing is lost), with raw Bayeux and with
 * jsforce's faye client; and `POST /__sandbox/streaming/restore`, which ends the delivery,
 * client-limit and retention faults and keeps the records.
 */
import t from 'tap'
import jsforce from 'jsforce'
import { connect, startSandbox } from './login.ts'
import { admin, disconnectFaye, eventsOf, Inbox, metaOf, RawBayeux, waitForHeld, type Message } from './streaming-helpers.ts'

const CHANNEL = '/data/ContactChangeEvent'
type EventData = NonNullable<Message['data']>

/** A raw Bayeux client subscribed to CHANNEL, with one connect held open by the stand-in. */
async function holdConnect(t: Parameters<typeof startSandbox>[0]) {
  const sandbox = await startSandbox(t, { streaming: { connectTimeoutMs: 60_000 } })
  const tokens = await connect(sandbox.url)
  const client = new RawBayeux(sandbox.url, tokens.access_token)
  t.teardown(() => client.disconnect())
  await client.open(CHANNEL)
  const held = client.connect()
  await waitForHeld(sandbox.url)
  return { sandbox, client, tokens, held }
}

t.test('server-sent /meta/disconnect: a held connect is answered at once, the session is gone', async (t) => {
  const { sandbox, client, tokens, held } = await holdConnect(t)
  t.match(await admin(sandbox.url, 'POST', '/faults', { kind: 'cometd-server-disconnect' }), { status: 201, body: { queued: false, affected: 1 } })
  t.same(await held, [
    { channel: '/meta/disconnect', clientId: client.clientId, successful: true },
    { channel: '/meta/connect', clientId: client.clientId, id: '4', successful: true, advice: { reconnect: 'none', interval: 0 } },
  ], 'the server says goodbye, advice none by default')
  t.match(metaOf(await client.connect(), '/meta/connect'), { successful: false, error: '403::Unknown client', advice: { reconnect: 'handshake' } })
  t.match((await admin(sandbox.url, 'GET', '/stats')).body, { cometd: { clients: 0 } })

  // A session that holds no connect learns it on its next request; advice handshake; org filter.
  const idle = new RawBayeux(sandbox.url, tokens.access_token)
  t.teardown(() => idle.disconnect())
  await idle.open(CHANNEL)
  t.match((await admin(sandbox.url, 'POST', '/faults', { kind: 'cometd-server-disconnect', org: 2 })).body, { affected: 0 }, 'org 2 has no session')
  t.match((await admin(sandbox.url, 'POST', '/faults', { kind: 'cometd-server-disconnect', advice: 'handshake', org: 1 })).body, { affected: 1 })
  t.same(await idle.send([{ channel: '/meta/subscribe', subscription: '/data/LeadChangeEvent' }, { channel: '/meta/connect', connectionType: 'long-polling' }]), [
    { channel: '/meta/disconnect', clientId: idle.clientId, successful: true },
    { channel: '/meta/subscribe', clientId: idle.clientId, id: '4', successful: false, error: '403::Unknown client', advice: { reconnect: 'handshake', interval: 0 }, subscription: '/data/LeadChangeEvent' },
    { channel: '/meta/connect', clientId: idle.clientId, id: '5', successful: false, error: '403::Unknown client', advice: { reconnect: 'handshake', interval: 0 } },
  ])
  t.match(await admin(sandbox.url, 'POST', '/faults', { kind: 'cometd-server-disconnect', advice: 'later' }), { status: 400 })
})

t.test('server-sent /meta/disconnect with advice handshake: faye re-handshakes, resubscribes, events flow', async (t) => {
  const sandbox = await startSandbox(t, { streaming: { connectTimeoutMs: 60_000 } })
  const tokens = await connect(sandbox.url)
  const conn = new jsforce.Connection({ instanceUrl: tokens.instance_url, accessToken: tokens.access_token, version: '62.0' })
  const seen = new Inbox<Message>()
  const client = conn.streaming.createClient([{ incoming: (m: Message, callback: (m: Message) => void) => { seen.push(m); callback(m) } }])
  t.teardown(() => disconnectFaye(client))
  const live = new Inbox<EventData>()
  await client.subscribe(CHANNEL, (m: EventData) => live.push(m))
  await waitForHeld(sandbox.url)

  await admin(sandbox.url, 'POST', '/faults', { kind: 'cometd-server-disconnect', advice: 'handshake' })
  const handshakes = () => seen.items.filter((m) => m.channel === '/meta/handshake' && m.successful).length
  const subscribes = () => seen.items.filter((m) => m.channel === '/meta/subscribe' && m.successful).length
  await seen.waitFor(seen.items.length + 1)
  for (let i = 0; i < 200 && (handshakes() < 2 || subscribes() < 2); i++) await seen.waitFor(seen.items.length + 1)
  t.ok(seen.items.some((m) => m.channel === '/meta/disconnect'), 'faye saw the server disconnect')
  t.equal(handshakes(), 2, 'a new handshake')
  t.equal(subscribes(), 2, 'the channel subscribed again')
  await admin(sandbox.url, 'POST', '/records/Contact', { records: [{ LastName: 'After' }] })
  const [event] = await live.waitFor(1)
  t.equal(event!.payload.ChangeEventHeader.changeType, 'CREATE')
})

t.test('dropped connection: the held long-poll socket is destroyed, the session lives on, nothing is lost', async (t) => {
  const { sandbox, client, held } = await holdConnect(t)
  t.match((await admin(sandbox.url, 'POST', '/faults', { kind: 'cometd-drop-connection' })).body, { queued: false, affected: 1 })
  await t.rejects(held, 'no answer: the socket was destroyed')
  t.match((await admin(sandbox.url, 'GET', '/stats')).body, { cometd: { clients: 1, held: 0 } }, 'the session lives on')

  await admin(sandbox.url, 'POST', '/records/Contact', { records: [{ LastName: 'While away' }] })
  const got = await client.connect()
  t.same(eventsOf(got).map((m) => m.data!.payload.ChangeEventHeader.changeType), ['CREATE'], 'the event waits for the next connect')
  t.match(metaOf(got, '/meta/connect'), { successful: true })

  // Not holding a connect: the next connect loses its socket before anything is processed.
  t.match((await admin(sandbox.url, 'POST', '/faults', { kind: 'cometd-drop-connection' })).body, { affected: 1 })
  await admin(sandbox.url, 'POST', '/records/Contact', { records: [{ LastName: 'Kept' }] })
  await t.rejects(client.connect())
  t.same(eventsOf(await client.connect()).map((m) => m.data!.payload.ChangeEventHeader.changeType), ['CREATE'], 'not taken by the dropped connect')
})

t.test('dropped connection under faye: it retries the connect and events keep coming', async (t) => {
  const sandbox = await startSandbox(t, { streaming: { connectTimeoutMs: 60_000 } })
  const tokens = await connect(sandbox.url)
  const conn = new jsforce.Connection({ instanceUrl: tokens.instance_url, accessToken: tokens.access_token, version: '62.0' })
  const client = conn.streaming.createClient([])
  t.teardown(() => disconnectFaye(client))
  const live = new Inbox<EventData>()
  await client.subscribe(CHANNEL, (m: EventData) => live.push(m))
  await waitForHeld(sandbox.url)
  await admin(sandbox.url, 'POST', '/faults', { kind: 'cometd-drop-connection' })
  await admin(sandbox.url, 'POST', '/records/Contact', { records: [{ LastName: 'Through' }] })
  const [event] = await live.waitFor(1, 20_000)
  t.equal(event!.payload.ChangeEventHeader.changeType, 'CREATE')
  t.match((await admin(sandbox.url, 'GET', '/stats')).body, { cometd: { clients: 1 } }, 'the same session')
})

t.test('POST /__sandbox/streaming/restore ends the delivery, client-limit and retention faults; records stay', async (t) => {
  const sandbox = await startSandbox(t, { streaming: { connectTimeoutMs: 300 } })
  const tokens = await connect(sandbox.url)
  const seeded = await admin(sandbox.url, 'POST', '/records/Contact', { records: [{ LastName: 'A' }, { LastName: 'B' }] })
  t.equal(seeded.status, 201)

  // Delivery allocation.
  await admin(sandbox.url, 'POST', '/faults', { kind: 'cometd-exhaust-delivery' })
  const starved = new RawBayeux(sandbox.url, tokens.access_token)
  t.teardown(() => starved.disconnect())
  await starved.handshake()
  t.match(metaOf(await starved.connect(), '/meta/connect'), { successful: false, error: '403::Organization total events daily limit exceeded' })
  t.same(await admin(sandbox.url, 'POST', '/streaming/restore'), { status: 200, body: { ok: true } })
  const fed = new RawBayeux(sandbox.url, tokens.access_token)
  t.teardown(() => fed.disconnect())
  t.match(await fed.open(CHANNEL, -2), { successful: true })
  t.equal(eventsOf(await fed.connect()).length, 2, 'deliveries again, from the retained log')
  await fed.disconnect()

  // Client limit.
  await admin(sandbox.url, 'POST', '/faults', { kind: 'cometd-client-limit', count: 5 })
  const refused = new RawBayeux(sandbox.url, tokens.access_token)
  t.match(await refused.handshake(), { successful: false, error: '403::Organization concurrent user limit exceeded' })
  await admin(sandbox.url, 'POST', '/streaming/restore')
  t.teardown(() => refused.disconnect())
  t.match(await refused.handshake(), { successful: true }, 'the remaining refusals are gone')
  await refused.disconnect()

  // Retention: evicted events stay evicted, new ones are kept in the configured window again.
  const probe = new RawBayeux(sandbox.url, tokens.access_token)
  t.teardown(() => probe.disconnect())
  await probe.open(CHANNEL, -2)
  const [first] = eventsOf(await probe.connect()).map((m) => m.data!.event.replayId)
  await probe.disconnect()
  await admin(sandbox.url, 'POST', '/faults', { kind: 'cometd-shrink-retention', retainEvents: 0 })
  await admin(sandbox.url, 'POST', '/streaming/restore')
  await admin(sandbox.url, 'POST', '/records/Contact', { records: [{ LastName: 'C' }, { LastName: 'D' }] })
  const late = new RawBayeux(sandbox.url, tokens.access_token)
  t.teardown(() => late.disconnect())
  await late.handshake()
  await late.connect()
  t.match(await late.subscribe(CHANNEL, first!), { successful: false }, 'an evicted id stays invalid')
  t.match(await late.subscribe(CHANNEL, -2), { successful: true })
  t.equal(eventsOf(await late.connect()).length, 2, 'events after the restore are retained')

  t.match((await admin(sandbox.url, 'GET', '/records/Contact')).body, { total: 4 }, 'records are kept')
})
