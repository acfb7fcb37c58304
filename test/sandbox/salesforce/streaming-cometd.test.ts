/**
 * Conformance of the Streaming API with the official CometD JavaScript client
 * (`cometd` + `cometd-nodejs-client`, long-polling, the message type appended to the URL):
 * subscribing to a CDC channel with a replay id in `ext.replay` gets exactly the events after
 * it, then live ones; a dropped session makes the client re-handshake on its own.
 */
import t from 'tap'
import { adapt } from 'cometd-nodejs-client'
import { CometD, type Message as CometdMessage } from 'cometd'
import { connect, startSandbox } from './login.ts'
import { admin, Inbox, type Message } from './streaming-helpers.ts'

adapt()

const CHANNEL = '/data/ContactChangeEvent'

function makeClient(url: string, token: string): CometD {
  const cometd = new CometD()
  // Salesforce serves long-polling only; the Node adapter would offer WebSocket first.
  cometd.unregisterTransport('websocket')
  cometd.configure({ url: `${url}/cometd/62.0`, requestHeaders: { Authorization: `Bearer ${token}` }, logLevel: 'warn' })
  return cometd
}

function handshake(cometd: CometD): Promise<CometdMessage> {
  return new Promise((resolve) => cometd.handshake((reply) => resolve(reply)))
}

function subscribe(cometd: CometD, channel: string, replayId: number, onEvent: (m: Message) => void): Promise<CometdMessage> {
  return new Promise((resolve) => {
    cometd.subscribe(channel, (m) => onEvent(m as unknown as Message), { ext: { replay: { [channel]: replayId } } }, (reply) => resolve(reply))
  })
}

/** Disconnect and wait for the reply (a client already disconnected never calls back). */
function disconnect(cometd: CometD): Promise<void> {
  if (cometd.isDisconnected()) return Promise.resolve()
  return new Promise((resolve) => cometd.disconnect(() => resolve()))
}

t.test('official CometD client: subscribe to a CDC channel with a replay id', async (t) => {
  const sandbox = await startSandbox(t, { streaming: { connectTimeoutMs: 2000 } })
  const tokens = await connect(sandbox.url)

  const created = await admin(sandbox.url, 'POST', '/records/Contact', { records: [{ LastName: 'One' }, { LastName: 'Two' }, { LastName: 'Three' }] })
  const ids = created.body.ids as string[]
  // Learn the replay ids of those three events with a raw -2 subscription through the client.
  const probe = makeClient(sandbox.url, tokens.access_token)
  t.teardown(() => disconnect(probe))
  const seen = new Inbox<Message>()
  t.match(await handshake(probe), { successful: true, ext: { replay: true } })
  t.match(await subscribe(probe, CHANNEL, -2, seen.push), { successful: true })
  const all = await seen.waitFor(3)
  t.same(all.map((m) => m.data!.payload.ChangeEventHeader.recordIds), ids.map((id) => [id]))
  await disconnect(probe)

  const cometd = makeClient(sandbox.url, tokens.access_token)
  t.teardown(() => disconnect(cometd))
  const inbox = new Inbox<Message>()
  await handshake(cometd)
  const reply = await subscribe(cometd, CHANNEL, all[0]!.data!.event.replayId, inbox.push)
  t.match(reply, { successful: true, subscription: CHANNEL })
  const replayed = await inbox.waitFor(2)
  t.same(replayed.map((m) => (m.data!.payload.ChangeEventHeader.recordIds as string[])[0]), ids.slice(1), 'the events after the stored id, in order')

  await admin(sandbox.url, 'PATCH', `/records/Contact/${ids[0]}`, { fields: { FirstName: 'Live', MailingCity: 'Paris' } })
  const [, , live] = await inbox.waitFor(3)
  t.equal(live!.channel, CHANNEL)
  t.match(live!.data!.payload, {
    ChangeEventHeader: { changeType: 'UPDATE', recordIds: [ids[0]], changedFields: ['Name.FirstName', 'MailingAddress.City', 'LastModifiedDate'] },
    Name: { FirstName: 'Live' }, MailingAddress: { City: 'Paris' },
  })
  t.match(live!.data!.payload.LastModifiedDate as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)

  // The server drops the session: the client re-handshakes by itself (advice handshake).
  const handshakes = new Inbox<CometdMessage>()
  cometd.addListener('/meta/handshake', handshakes.push)
  const dropped = await admin(sandbox.url, 'POST', '/faults', { kind: 'cometd-drop-sessions' })
  t.match(dropped.body, { queued: false, affected: 1 })
  const [again] = await handshakes.waitFor(1)
  t.equal(again!.successful, true, 're-handshake after 403::Unknown client')
})
