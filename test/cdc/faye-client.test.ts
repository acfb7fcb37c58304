/**
 * The faye client and its replay extension against the Salesforce stand-in over real HTTP:
 * every subscribe (faye's own resubscribe after `403::Unknown client` included) carries the
 * position the callback gives at that moment, never an id the client was built with; the
 * refusals reach the stream as signals; a dropped long-poll is resent with backoff and loses
 * nothing; close() leaves no session, no held request and no timer, even with the server gone.
 */
import faye from 'faye'
import t from 'tap'
import { FAYE_VERSION, createCdcClient, type CdcClientOptions } from '../../src/cdc/faye-client.ts'
import type { Signal } from '../../src/cdc/classify.ts'
import { waitFor } from '../helpers/index.ts'
import { connect, startSandbox } from '../sandbox/salesforce/login.ts'
import { admin, Inbox, waitForHeld } from '../sandbox/salesforce/streaming-helpers.ts'

const CHANNEL = '/data/ContactChangeEvent'
type Delivered = { event: { replayId: number }; payload: { ChangeEventHeader: { recordIds: string[]; changeType: string } } }

async function setup(t: Parameters<typeof startSandbox>[0], overrides: Partial<CdcClientOptions> = {}) {
  const sandbox = await startSandbox(t, { streaming: { connectTimeoutMs: 30_000 } })
  const tokens = await connect(sandbox.url)
  const events = new Inbox<Delivered>()
  const signals = new Inbox<Signal>()
  const transport: string[] = []
  let position = -1
  const positions: number[] = []
  const client = createCdcClient({
    url: `${tokens.instance_url}/cometd/62.0`,
    accessToken: tokens.access_token,
    channel: CHANNEL,
    position: () => {
      positions.push(position)
      return position
    },
    onEvent: (data) => events.push(data as Delivered),
    onSignal: (s) => signals.push(s),
    onTransport: (state) => transport.push(state),
    retryMinMs: 50,
    retryMaxMs: 200,
    ...overrides,
  })
  t.teardown(() => client.close())
  const create = async (lastName: string) => ((await admin(sandbox.url, 'POST', '/records/Contact', { records: [{ LastName: lastName }] })).body.ids as string[])[0]!
  const subscribed = () => signals.items.filter((s) => s.kind === 'subscribed').length
  return { sandbox, tokens, client, events, signals, transport, positions, create, subscribed, setPosition: (p: number) => { position = p } }
}

t.test('faye is the version close() was written against', async (t) => {
  t.equal((faye as unknown as { VERSION: string }).VERSION, FAYE_VERSION, 'review close() in src/cdc/faye-client.ts after a faye upgrade')
})

t.test('the resubscribe after 403::Unknown client carries the current checkpoint, not the first one', async (t) => {
  const s = await setup(t)
  const first = await s.create('One')
  const second = await s.create('Two')
  s.client.subscribe()
  await waitFor(() => s.subscribed() === 1, 10_000, 'subscribed')
  t.same(s.positions, [-1], 'the first subscribe asked for new events only')
  await s.create('Three')
  const [three] = await s.events.waitFor(1)
  t.equal(three!.payload.ChangeEventHeader.changeType, 'CREATE')
  t.notOk([first, second].includes(three!.payload.ChangeEventHeader.recordIds[0]!), 'nothing from before the subscribe')

  // The checkpoint moves to the event just handled; the session is then dropped.
  s.setPosition(three!.event.replayId)
  await waitForHeld(s.sandbox.url)
  t.match((await admin(s.sandbox.url, 'POST', '/faults', { kind: 'cometd-drop-sessions' })).body, { affected: 1 })
  await waitFor(() => s.subscribed() === 2, 10_000, 'resubscribed by faye')
  t.match(s.signals.items.map((x) => x.kind), ['handshake', 'subscribed', 'rehandshake', 'handshake', 'subscribed'])
  t.same(s.positions, [-1, three!.event.replayId], 'faye\'s own resubscribe asked the callback again')
  await s.create('Four')
  const events = await s.events.waitFor(2)
  t.equal(events.length, 2, 'the third event was not delivered again')
  t.ok(events[1]!.event.replayId > three!.event.replayId)
})

t.test('a subscribe from a stored id replays what came after it', async (t) => {
  const s = await setup(t)
  await s.create('Before')
  const { replayId } = (await admin(s.sandbox.url, 'POST', '/publish', { channel: CHANNEL, payload: { ChangeEventHeader: { entityName: 'Contact', recordIds: ['003000000000001AAA'], changeType: 'UPDATE', changedFields: [] } } })).body as { replayId: number }
  await s.create('After')
  s.setPosition(replayId)
  s.client.subscribe()
  const [after] = await s.events.waitFor(1)
  t.ok(after!.event.replayId > replayId)
  t.equal(s.events.items.length, 1)
})

t.test('refusals: channel of an object not selected, expired token, delivery limit', async (t) => {
  const s = await setup(t, { channel: '/data/Member__ChangeEvent' })
  s.client.subscribe()
  const [, refused] = await s.signals.waitFor(2)
  t.match(refused, { kind: 'subscribe-failed', code: 'cdc.not-enabled', error: /does not exist/ })
  await s.client.close()

  const auth = await setup(t)
  auth.client.subscribe()
  await waitFor(() => auth.subscribed() === 1, 10_000, 'subscribed')
  await waitForHeld(auth.sandbox.url)
  await admin(auth.sandbox.url, 'POST', '/faults', { kind: 'expire-tokens' })
  await auth.create('Wakes the held connect')
  await waitFor(() => auth.signals.items.some((x) => x.kind === 'auth'), 10_000, 'auth signal')
  t.ok(auth.signals.items.some((x) => x.kind === 'server-disconnect'), 'the /meta/disconnect that comes with it')
  t.equal(auth.events.items.length, 0, 'nothing delivered on a refused token')
  await auth.client.close()

  const limit = await setup(t)
  limit.client.subscribe()
  await waitFor(() => limit.subscribed() === 1, 10_000, 'subscribed')
  await waitForHeld(limit.sandbox.url)
  await admin(limit.sandbox.url, 'POST', '/faults', { kind: 'cometd-exhaust-delivery' })
  await waitFor(() => limit.signals.items.some((x) => x.kind === 'limit'), 10_000, 'limit signal')
  t.match(limit.signals.items.find((x) => x.kind === 'limit'), { code: 'cdc.delivery-limit' })
})

t.test('a destroyed long-poll is resent with backoff; the session lives on and nothing is lost', async (t) => {
  const s = await setup(t)
  s.client.subscribe()
  await waitFor(() => s.subscribed() === 1, 10_000, 'subscribed')
  await waitForHeld(s.sandbox.url)
  await admin(s.sandbox.url, 'POST', '/faults', { kind: 'cometd-drop-connection' })
  await s.create('While down')
  const [event] = await s.events.waitFor(1)
  t.equal(event!.payload.ChangeEventHeader.changeType, 'CREATE')
  t.same(s.transport, ['up', 'down', 'up'], 'down once, up again')
  t.equal(s.signals.items.filter((x) => x.kind === 'handshake').length, 1, 'no new handshake')
})

t.test('close: the session ends at the server, nothing is held; also with the server gone', async (t) => {
  const s = await setup(t)
  s.client.subscribe()
  await waitFor(() => s.subscribed() === 1, 10_000, 'subscribed')
  await waitForHeld(s.sandbox.url)
  await s.client.close()
  t.match((await admin(s.sandbox.url, 'GET', '/stats')).body, { cometd: { clients: 0, held: 0 } })
  await s.client.close()
  await s.create('After close')
  t.equal(s.events.items.length, 0)

  const gone = await setup(t, { closeTimeoutMs: 300 })
  gone.client.subscribe()
  await waitFor(() => gone.subscribed() === 1, 10_000, 'subscribed')
  await gone.sandbox.stop()
  const started = Date.now()
  await gone.client.close()
  t.ok(Date.now() - started < 2000, 'close does not wait for a server that is gone')
  // The test process ends only if no faye timer or request is left (tap would time out).
})
