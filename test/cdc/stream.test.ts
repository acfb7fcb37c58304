/**
 * A merchant's stream end to end: the full stack (both stand-ins over real HTTP, the bridge
 * with the CDC engine, real Kafka). Changes made in Salesforce reach `salesforce.changes` in
 * the documented shape, one message per record; the checkpoint follows Kafka's
 * acknowledgements and nothing else; restarts, token expiry, dropped sessions and cdc-replay
 * requests lose nothing and re-send nothing before the checkpoint.
 */
import t from 'tap'
import { AppError } from '../../src/errors.ts'
import { createStore } from '../../src/store/index.ts'
import type { KafkaClient } from '../../src/kafka/index.ts'
import { waitFor } from '../helpers/index.ts'
import { CONTACT_CHANNEL, startCdcStack, type CdcStack } from './helpers.ts'

/** Replay ids on the topic: each must be there exactly once per record. */
const countsBy = (cdc: CdcStack) => {
  const counts = new Map<string, number>()
  for (const { message } of cdc.changes()) counts.set(`${message.recordId}@${message.replayId}`, (counts.get(`${message.recordId}@${message.replayId}`) ?? 0) + 1)
  return counts
}
/** LastName of each change, in replay id order (records land on different partitions). */
const names = (cdc: CdcStack) => cdc.changes().map((x) => x.message).sort((a, b) => a.replayId! - b.replayId!).map((m) => m.fields.LastName)
const lastReplayId = (cdc: CdcStack) => Math.max(...cdc.changes().map((c) => c.message.replayId ?? -1))

t.test('create, update, delete, undelete and a merged event reach the topic, one message per record, key m:recordId', async (t) => {
  const cdc = await startCdcStack(t)
  const { merchantId } = cdc
  await cdc.waitForHealth('streaming')
  t.same(cdc.engine().streams(), [{ merchantId, state: 'streaming' }])

  const [ada] = await cdc.createContacts('Ada')
  await cdc.sf('PATCH', `/records/Contact/${ada}`, { fields: { Title: 'Countess', FirstName: 'Augusta' } })
  await cdc.sf('DELETE', `/records/Contact/${ada}`)
  await cdc.sf('POST', `/records/Contact/${ada}/undelete`)
  // Two records in one event (a mass update).
  const [b, c] = await cdc.createContacts('Babbage', 'Lovelace')
  await cdc.sf('POST', '/publish', { channel: CONTACT_CHANNEL, payload: {
    ChangeEventHeader: { entityName: 'Contact', recordIds: [b, c], changeType: 'UPDATE', changeOrigin: '', transactionKey: 'tk-1', sequenceNumber: 1, commitTimestamp: Date.now(), commitNumber: 42, commitUser: '005000000000001AAA', changedFields: ['Title', 'LastModifiedDate'], futureHeaderKey: 'tolerated' },
    Title: 'Engineer', LastModifiedDate: new Date().toISOString(), Enriched__c: 'not changed',
  } })
  await cdc.waitForChanges(8)
  const changes = cdc.changes()
  t.equal(changes.length, 8)
  t.same(changes.filter((x) => x.message.recordId === ada).map((x) => x.message.changeType), ['CREATE', 'UPDATE', 'DELETE', 'UNDELETE'], 'one record keeps its order')
  for (const { key, message } of changes) t.equal(key, `${merchantId}:${message.recordId}`)
  const update = changes.find((x) => x.message.recordId === ada && x.message.changeType === 'UPDATE')!.message
  t.match(update, {
    v: 1, source: 'cdc', merchantId, object: 'Contact', recordId: ada, changeType: 'UPDATE', channel: CONTACT_CHANNEL,
    replayId: Number, commitTimestamp: Number, commitNumber: Number, sequenceNumber: 1, changeOrigin: '', commitUser: /^005/, transactionKey: String,
    changedFields: ['Title'],
    fields: { Title: 'Countess' }, receivedAt: Number,
  })
  t.match(update.orgId, /^00D/)
  t.same(Object.keys(changes.find((x) => x.message.changeType === 'DELETE')!.message.fields), [], 'a delete carries no values')
  const merged = changes.filter((x) => x.message.transactionKey === 'tk-1')
  t.same(merged.map((x) => x.message.recordId).sort(), [b, c].sort(), 'a merged event fans out per record')
  t.same(merged[0]!.message.fields, { Title: 'Engineer' }, 'only the changed fields the merchant maps, not the enriched one')
  t.equal(merged[0]!.message.replayId, merged[1]!.message.replayId, 'same event, same replay id')

  await waitFor(async () => (await cdc.checkpoint()) === lastReplayId(cdc), 10_000, 'checkpoint at the last event')
  t.ok((await cdc.stack.store.getSyncHealth(merchantId)).lastEventAt, 'the last event time is noted')
  t.match(cdc.statuses(), [{ merchantId, kind: 'cdc', state: 'starting' }, { merchantId, kind: 'cdc', state: 'streaming', reason: 'subscribed' }])
  const metrics = await (await fetch(`${cdc.stack.url}/metrics`)).text()
  t.match(metrics, /bridge_cdc_events_total\{[^}]*outcome="produced"[^}]*\} 7/, 'seven events produced')
  t.match(metrics, /bridge_cdc_streams\{[^}]*state="streaming"[^}]*\} 1/)
})

t.test('while Kafka refuses, the checkpoint stays; once acknowledged it is the last event\'s replay id', async (t) => {
  let refusing = false
  let refused = 0
  const failingKafka = (kafka: KafkaClient): KafkaClient => new Proxy(kafka, {
    get(target, prop, receiver) {
      if (prop !== 'produce') return Reflect.get(target, prop, receiver)
      return async (topic: string, messages: Parameters<KafkaClient['produce']>[1]) => {
        if (refusing && topic.includes('salesforce-changes')) {
          refused++
          throw new AppError('kafka.produce-failed', 'broker refused (test)')
        }
        return target.produce(topic, messages)
      }
    },
  })
  const cdc = await startCdcStack(t, { wrap: (s) => ({ ...s, kafka: failingKafka(s.kafka) }) })
  await cdc.waitForHealth('streaming')
  await cdc.createContacts('First')
  await cdc.waitForChanges(1)
  const first = lastReplayId(cdc)
  await waitFor(async () => (await cdc.checkpoint()) === first, 10_000, 'first checkpoint')

  refusing = true
  await cdc.createContacts('Second', 'Third')
  await waitFor(() => refused >= 3, 15_000, 'three refused produces')
  t.equal(await cdc.checkpoint(), first, 'not moved while Kafka refuses')
  t.equal(cdc.changes().length, 1)
  refusing = false
  await cdc.waitForChanges(3)
  t.same(cdc.changes().slice(1).map((x) => x.message.fields.LastName).sort(), ['Second', 'Third'], 'nothing skipped')
  await waitFor(async () => (await cdc.checkpoint()) === lastReplayId(cdc), 10_000, 'checkpoint after the acknowledgement')
  t.ok(lastReplayId(cdc) > first)
})

t.test('restart resumes from the checkpoint: changes made while down arrive, nothing is sent twice', async (t) => {
  const cdc = await startCdcStack(t)
  await cdc.waitForHealth('streaming')
  await cdc.createContacts('Before')
  await cdc.waitForChanges(1)
  await cdc.stack.app.close()
  t.same(cdc.engine().streams(), [], 'stopped with the bridge')
  // The bridge's store is closed: read the file as another process would.
  const reader = createStore({ url: `sqlite:${cdc.stack.sqlitePath}` })
  t.equal((await reader.getSyncHealth(cdc.merchantId)).cdc, 'streaming', 'a shutdown does not report the stream stopped: another instance takes over')
  t.equal(await reader.getReplayId(cdc.merchantId, CONTACT_CHANNEL), lastReplayId(cdc), 'the stop waited for the checkpoint')
  t.equal((await reader.getLease(`cdc:${cdc.merchantId}`))?.held, false, 'the lease was released')
  await reader.close()
  await cdc.createContacts('Down1', 'Down2')
  await cdc.stack.restart()
  await cdc.createContacts('After')
  await cdc.waitForChanges(4)
  t.same(names(cdc), ['Before', 'Down1', 'Down2', 'After'])
  t.ok([...countsBy(cdc).values()].every((n) => n === 1), 'each event once')
})

t.test('expire-tokens mid-stream: refresh, a new client with the new token, no loss', async (t) => {
  const cdc = await startCdcStack(t)
  await cdc.waitForHealth('streaming')
  await cdc.createContacts('One')
  await cdc.waitForChanges(1)
  const tokenBefore = (await cdc.stack.store.getConnection(cdc.merchantId))!.accessTokenEnc
  await cdc.sf('POST', '/faults', { kind: 'expire-tokens' })
  await cdc.createContacts('Two')
  await cdc.createContacts('Three')
  await cdc.waitForChanges(3)
  t.same(names(cdc), ['One', 'Two', 'Three'])
  t.not((await cdc.stack.store.getConnection(cdc.merchantId))!.accessTokenEnc, tokenBefore, 'the token was refreshed and stored')
  t.equal((await cdc.health()).cdc, 'streaming')
  t.ok([...countsBy(cdc).values()].every((n) => n === 1))
  t.notMatch(cdc.stack.logs.text(), /Bearer [A-Za-z0-9]/, 'no token in the logs')
})

t.test('cometd-drop-sessions (403::Unknown client) and a server disconnect: resubscribed from the checkpoint, no loss', async (t) => {
  const cdc = await startCdcStack(t)
  await cdc.waitForHealth('streaming')
  await cdc.createContacts('One')
  await cdc.waitForChanges(1)
  await waitFor(async () => (await cdc.checkpoint()) === lastReplayId(cdc), 10_000, 'checkpoint')
  await cdc.sf('POST', '/faults', { kind: 'cometd-drop-sessions' })
  await cdc.createContacts('Two')
  await cdc.waitForChanges(2)
  await cdc.sf('POST', '/faults', { kind: 'cometd-server-disconnect' })
  await cdc.createContacts('Three')
  await cdc.waitForChanges(3)
  t.same(names(cdc), ['One', 'Two', 'Three'])
  t.ok([...countsBy(cdc).values()].every((n) => n === 1))
  const said = cdc.stack.logs.lines().filter((l) => l.component === 'cdc').map((l) => String(l.msg))
  t.ok(said.some((m) => /faye re-handshakes/.test(m)), 'the unknown client was left to faye')
  t.ok(said.some((m) => /will not reconnect: building a new one/.test(m)), 'the server disconnect (advice none) got a new client')
})

t.test('a cdc-replay request: the stream resubscribes from the requested id within seconds', async (t) => {
  const cdc = await startCdcStack(t)
  await cdc.waitForHealth('streaming')
  for (const name of ['One', 'Two', 'Three']) await cdc.createContacts(name)
  await cdc.waitForChanges(3)
  const one = cdc.changes().find((x) => x.message.fields.LastName === 'One')!
  await waitFor(async () => (await cdc.checkpoint()) === lastReplayId(cdc), 10_000, 'checkpoint')
  await cdc.stack.store.requestReplay(cdc.merchantId, CONTACT_CHANNEL, one.message.replayId!)
  const asked = Date.now()
  await cdc.waitForChanges(5, 10_000)
  t.ok(Date.now() - asked < 10_000, 'within 10 s')
  t.same(cdc.changes().slice(3).map((x) => x.message.fields.LastName).sort(), ['Three', 'Two'], 'what came after the id, again')
  await cdc.createContacts('Four')
  await cdc.waitForChanges(6)
  t.equal(cdc.changes()[5]!.message.fields.LastName, 'Four', 'and on from there')
  // Saved in the background (at most every 100 ms) once Kafka acknowledged.
  await waitFor(async () => (await cdc.checkpoint()) === lastReplayId(cdc), 10_000, 'the checkpoint at the last event')
})
