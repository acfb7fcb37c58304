/**
 * The Streaming API on the wire (raw Bayeux over fetch): handshake and advice, long-polling
 * with many events per connect, and every documented error with its exact string and advice:
 * replayId outside retention, `401::Authentication invalid`, `403::Handshake denied`,
 * `403::Unknown client`, the concurrent client limit, the daily delivery allocation, plus
 * the cookie, channel, version and size errors.
 */
import t from 'tap'
import { connect, startSandbox } from './login.ts'
import { admin, eventsOf, metaOf, RawBayeux, rest } from './streaming-helpers.ts'

const CHANNEL = '/data/ContactChangeEvent'
const REPLAY_ERROR = (id: number | string) =>
  `400::The replayId {${id}} you provided was invalid. Please provide a valid ID, -2 to replay all events, or -1 to replay only new events.`

async function seed(url: string, n: number): Promise<string[]> {
  const created = await admin(url, 'POST', '/records/Contact', { records: Array.from({ length: n }, (_, i) => ({ LastName: `C${i}` })) })
  return created.body.ids as string[]
}

t.test('handshake, first connect with advice, held connect, many events in one response', async (t) => {
  const sandbox = await startSandbox(t, { streaming: { connectTimeoutMs: 300 } })
  const tokens = await connect(sandbox.url)
  const client = new RawBayeux(sandbox.url, tokens.access_token)
  t.teardown(() => client.disconnect())

  const hs = await client.handshake()
  t.match(hs, {
    channel: '/meta/handshake', id: '1', successful: true, version: '1.0', minimumVersion: '1.0',
    supportedConnectionTypes: ['long-polling'], ext: { replay: true, 'payload.format': true }, reestablish: false,
  })
  t.type(hs.clientId, 'string')
  t.match(client.cookie, /^BAYEUX_BROWSER=/, 'session cookie set')
  t.same(await client.connect(), [{ channel: '/meta/connect', clientId: client.clientId, id: '2', successful: true, advice: { reconnect: 'retry', interval: 0, timeout: 300 } }])
  t.same(await client.subscribe(CHANNEL), { channel: '/meta/subscribe', clientId: client.clientId, id: '3', subscription: CHANNEL, successful: true })

  const started = performance.now()
  t.same(await client.connect(), [{ channel: '/meta/connect', clientId: client.clientId, id: '4', successful: true }], 'held, then answered empty')
  t.ok(performance.now() - started >= 250, 'the connect was held until the timeout')

  const held = client.connect()
  await seed(sandbox.url, 500)
  const reply = await held
  t.equal(eventsOf(reply).length, 500, 'every waiting event in one response')
  t.equal(reply.at(-1)!.channel, '/meta/connect', 'the connect reply comes last')
  const replayIds = eventsOf(reply).map((m) => m.data!.event.replayId)
  t.ok(replayIds.every((id, i) => i === 0 || id > replayIds[i - 1]!), 'in replay order')
  t.ok(replayIds.some((id, i) => i > 0 && id - replayIds[i - 1]! > 1) || replayIds.length < 10, 'not contiguous')

  t.same(await client.send([{ channel: '/meta/unsubscribe', subscription: CHANNEL }]), [
    { channel: '/meta/unsubscribe', clientId: client.clientId, id: '6', subscription: CHANNEL, successful: true },
  ])
  t.same(await client.send([{ channel: '/meta/disconnect' }]), [{ channel: '/meta/disconnect', clientId: client.clientId, id: '7', successful: true }])
  t.match(metaOf(await client.connect(), '/meta/connect'), { successful: false, error: '403::Unknown client' })
})

t.test('replay: -1, -2, a stored id, and the replayId error outside retention', async (t) => {
  const sandbox = await startSandbox(t, { streaming: { connectTimeoutMs: 5000 } })
  const tokens = await connect(sandbox.url)
  await seed(sandbox.url, 4)
  const probe = new RawBayeux(sandbox.url, tokens.access_token)
  t.teardown(() => probe.disconnect())
  await probe.open(CHANNEL, -2)
  const all = eventsOf(await probe.connect()).map((m) => m.data!.event.replayId)
  t.equal(all.length, 4, '-2 replays everything retained')
  await probe.disconnect()

  const fromStored = new RawBayeux(sandbox.url, tokens.access_token)
  t.teardown(() => fromStored.disconnect())
  t.match(await fromStored.open(CHANNEL, all[1]!), { successful: true })
  t.same(eventsOf(await fromStored.connect()).map((m) => m.data!.event.replayId), all.slice(2), 'a stored id replays what came after it')
  await fromStored.disconnect()

  const asString = new RawBayeux(sandbox.url, tokens.access_token)
  t.teardown(() => asString.disconnect())
  t.match(await asString.open(CHANNEL, String(all[2])), { successful: true }, 'a replay id may be sent as a string')
  await asString.disconnect()

  const future = new RawBayeux(sandbox.url, tokens.access_token)
  t.teardown(() => future.disconnect())
  t.same(await future.open(CHANNEL, all[3]! + 1_000_000), {
    channel: '/meta/subscribe', clientId: future.clientId, id: '3', subscription: CHANNEL, successful: false, error: REPLAY_ERROR(all[3]! + 1_000_000),
  }, 'an id never handed out is invalid')
  t.match(await future.subscribe(CHANNEL, 'abc'), { successful: false, error: REPLAY_ERROR('abc') })
  await future.disconnect()

  // Shrink retention to one event: the older ids are out of the window.
  const shrunk = await admin(sandbox.url, 'POST', '/faults', { kind: 'cometd-shrink-retention', retainEvents: 1 })
  t.match(shrunk.body, { queued: false })
  const late = new RawBayeux(sandbox.url, tokens.access_token)
  t.teardown(() => late.disconnect())
  t.match(await late.open(CHANNEL, all[0]!), { successful: false, error: REPLAY_ERROR(all[0]!) })
  t.match(await late.subscribe(CHANNEL, all[2]!), { successful: true }, 'the id just before the oldest retained event is still valid')
  t.same(eventsOf(await late.connect()).map((m) => m.data!.event.replayId), [all[3]])
  t.match(await late.subscribe(CHANNEL, -2), { successful: true })
  t.same(eventsOf(await late.connect()).map((m) => m.data!.event.replayId), [all[3]], '-2 gives what is retained')
  t.match(await late.subscribe(CHANNEL, -1), { successful: true })
  const held = late.connect()
  await seed(sandbox.url, 1)
  t.equal(eventsOf(await held).length, 1, '-1 gives only new events')

  // Age: events older than retainMs are gone too.
  await admin(sandbox.url, 'POST', '/faults', { kind: 'cometd-shrink-retention', retainEvents: 100, retainMs: 0 })
  t.match(await late.subscribe(CHANNEL, all[3]!), { successful: false, error: REPLAY_ERROR(all[3]!) })
  await admin(sandbox.url, 'POST', '/reset')
  t.match(await late.subscribe(CHANNEL, all[3]!), { successful: false, error: REPLAY_ERROR(all[3]!) }, 'reset empties the logs; the window is back to default')
})

t.test('401::Authentication invalid and 403::Handshake denied', async (t) => {
  const sandbox = await startSandbox(t, { streaming: { connectTimeoutMs: 5000 } })
  const tokens = await connect(sandbox.url)

  const anonymous = new RawBayeux(sandbox.url, null)
  t.match(await anonymous.handshake(), {
    channel: '/meta/handshake', successful: false, error: '403::Handshake denied',
    ext: { sfdc: { failureReason: '401::Request requires authentication' } }, advice: { reconnect: 'none' },
  })
  const forged = new RawBayeux(sandbox.url, 'not-a-token')
  t.match(await forged.handshake(), { successful: false, error: '403::Handshake denied', ext: { sfdc: { failureReason: '401::Authentication invalid' } } })

  // A token that dies while a connect is held: the connect is answered with the error.
  const client = new RawBayeux(sandbox.url, tokens.access_token)
  await client.open(CHANNEL)
  const held = client.connect()
  await admin(sandbox.url, 'POST', '/faults', { kind: 'expire-tokens' })
  await seed(sandbox.url, 1)
  t.same(await held, [
    { channel: '/meta/disconnect' },
    { channel: '/meta/connect', clientId: client.clientId, id: '4', successful: false, error: '401::Authentication invalid', advice: { reconnect: 'none', interval: 0 } },
  ])
  t.same(await client.connect(), [
    { channel: '/meta/disconnect' },
    { channel: '/meta/connect', clientId: client.clientId, id: '5', successful: false, error: '401::Authentication invalid', advice: { reconnect: 'none', interval: 0 } },
  ], 'and on the next connect')
  t.match((await admin(sandbox.url, 'GET', '/stats')).body, { cometd: { clients: 0 } })
})

t.test('403::Unknown client: dropped sessions (fault and idle timeout), unknown ids', async (t) => {
  const sandbox = await startSandbox(t, { streaming: { connectTimeoutMs: 5000, maxIntervalMs: 200 } })
  const tokens = await connect(sandbox.url)
  const unknownClient = { successful: false, error: '403::Unknown client', advice: { reconnect: 'handshake', interval: 0 } }

  const client = new RawBayeux(sandbox.url, tokens.access_token)
  t.teardown(() => client.disconnect())
  await client.open(CHANNEL)
  const held = client.connect()
  // Wait until the connect is held, then drop.
  for (let i = 0; i < 200 && (await admin(sandbox.url, 'POST', '/faults', { kind: 'cometd-drop-sessions' })).body.affected === 0; i++) {
    await new Promise((resolve) => setImmediate(resolve))
  }
  t.match(metaOf(await held, '/meta/connect'), unknownClient, 'a held connect is answered with the error')
  t.match(metaOf(await client.connect(), '/meta/connect'), unknownClient)
  t.match(await client.subscribe(CHANNEL), { ...unknownClient, subscription: CHANNEL })

  const stranger = new RawBayeux(sandbox.url, tokens.access_token)
  stranger.clientId = 'never-issued'
  t.match(metaOf(await stranger.connect(), '/meta/connect'), unknownClient)

  // No connect within maxIntervalMs after a response: the session is dropped.
  const idle = new RawBayeux(sandbox.url, tokens.access_token)
  await idle.open(CHANNEL)
  const clients = async () => ((await admin(sandbox.url, 'GET', '/stats')).body.cometd as { clients: number }).clients
  const deadline = Date.now() + 5000
  // The sweep runs on a timer; poll the stats until it has (with a deadline).
  while ((await clients()) > 0) {
    if (Date.now() > deadline) throw new Error('the idle session was never dropped')
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  t.match(metaOf(await idle.connect(), '/meta/connect'), unknownClient)
})

t.test('concurrent client limit: the option and the fault', async (t) => {
  const sandbox = await startSandbox(t, { streaming: { maxConcurrentClients: 2 } })
  const tokens = await connect(sandbox.url)
  const limit = {
    successful: false, error: '403::Organization concurrent user limit exceeded',
    ext: { sfdc: { failureReason: '403::Organization concurrent user limit exceeded' } }, advice: { reconnect: 'none' },
  }
  const clients = [0, 1, 2].map(() => new RawBayeux(sandbox.url, tokens.access_token))
  t.teardown(() => Promise.all(clients.map((c) => c.disconnect())))
  t.match(await clients[0]!.handshake(), { successful: true })
  t.match(await clients[1]!.handshake(), { successful: true })
  t.match(await clients[2]!.handshake(), limit)
  const limits = (await rest(sandbox.url, tokens.access_token, 'GET', '/limits')).body as Record<string, { Max: number; Remaining: number }>
  t.same(limits.StreamingApiConcurrentClients, { Max: 2, Remaining: 0 })
  await clients[0]!.disconnect()
  t.match(await clients[2]!.handshake(), { successful: true }, 'a slot frees when a client disconnects')

  await clients[1]!.disconnect()
  await admin(sandbox.url, 'POST', '/faults', { kind: 'cometd-client-limit', count: 1 })
  const other = new RawBayeux(sandbox.url, tokens.access_token)
  clients.push(other)
  t.match(await other.handshake(), limit, 'the fault refuses the next handshake')
  t.match(await other.handshake(), { successful: true }, 'then it is used up')
})

t.test('daily delivery allocation: delivered events count, then 403::Organization total events daily limit exceeded', async (t) => {
  const sandbox = await startSandbox(t, { streaming: { dailyDeliveredEvents: 3, connectTimeoutMs: 5000 } })
  const tokens = await connect(sandbox.url)
  const exceeded = { channel: '/meta/connect', successful: false, error: '403::Organization total events daily limit exceeded', advice: { reconnect: 'none', interval: 0 } }
  await seed(sandbox.url, 5)
  const client = new RawBayeux(sandbox.url, tokens.access_token)
  t.teardown(() => client.disconnect())
  await client.open(CHANNEL, -2)
  t.equal(eventsOf(await client.connect()).length, 3, 'delivery stops at the allocation')
  t.match(await client.connect(), [exceeded])
  const limits = (await rest(sandbox.url, tokens.access_token, 'GET', '/limits')).body as Record<string, { Max: number; Remaining: number }>
  t.same(limits.DailyDeliveredPlatformEvents, { Max: 3, Remaining: 0 })

  await admin(sandbox.url, 'POST', '/reset')
  const fresh = new RawBayeux(sandbox.url, tokens.access_token)
  t.teardown(() => fresh.disconnect())
  await fresh.open(CHANNEL)
  const held = fresh.connect()
  await admin(sandbox.url, 'POST', '/faults', { kind: 'cometd-exhaust-delivery', org: 1 })
  t.match(await held, [exceeded], 'the fault fails the held connect')
})

t.test('cookie, channel, version, connection type and size errors', async (t) => {
  const sandbox = await startSandbox(t, { streaming: { connectTimeoutMs: 5000 } })
  const tokens = await connect(sandbox.url)
  const client = new RawBayeux(sandbox.url, tokens.access_token)
  t.teardown(() => client.disconnect())
  await client.handshake()
  t.match(metaOf(await client.send([{ channel: '/meta/connect', connectionType: 'long-polling' }], { cookie: false }), '/meta/connect'), {
    successful: false, error: `400::Client ${client.clientId} has established a session, but no BAYEUX_BROWSER cookie present`,
  })
  t.match(await client.subscribe('/data/NopeChangeEvent'), { successful: false, error: '400::The channel you requested to subscribe to does not exist {/data/NopeChangeEvent}' })
  t.match(await client.subscribe('data/ContactChangeEvent'), { successful: false, error: "400::Channel subscriptions must start with a leading '/'" })
  t.match(await client.subscribe(''), { successful: false, error: '400::Channel name not specified' })
  await admin(sandbox.url, 'POST', '/cdc', { object: 'Member__c', enabled: true })
  t.match(await client.subscribe('/data/Member__ChangeEvent'), { successful: true }, 'custom objects have a __ChangeEvent channel once selected')
  t.match(await client.subscribe('/data/ChangeEvents'), { successful: true })
  t.match(metaOf(await client.send([{ channel: '/meta/connect', connectionType: 'websocket' }]), '/meta/connect'), { successful: false, error: '400::Invalid connection type websocket' })

  const old = new RawBayeux(sandbox.url, tokens.access_token, '36.0')
  t.match(await old.handshake(), { successful: false, error: "400::Unsupported API version. Only API versions '37.0' and later are supported. URI format: '/cometd/62.0'" })
  const none = await fetch(`${sandbox.url}/cometd`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `OAuth ${tokens.access_token}` }, body: '[{"channel":"/meta/handshake"}]' })
  t.match(await none.json(), [{ successful: false, error: "400::API version in the URI is mandatory. URI format: '/cometd/62.0'" }])

  const big = await fetch(`${sandbox.url}/cometd/62.0`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `OAuth ${tokens.access_token}` },
    body: JSON.stringify([{ channel: '/meta/handshake', padding: 'x'.repeat(40_000) }]),
  })
  t.equal(big.status, 413)
  t.equal(await big.text(), 'Maximum Request Size Exceeded')
})
