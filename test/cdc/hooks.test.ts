/**
 * The seams the first full load and the resyncs plug into, and the events that are not
 * plain changes, on the full stack: `onSubscribed(ctx)` after each subscribe acknowledgement
 * with its signal aborted and awaited on stop; `resync` for overflow events (everything) and a
 * replay id outside retention (a window before the last event seen); unreadable events skipped (logged without values) with the checkpoint
 * moving past them; a full queue drops the client and resubscribes from the checkpoint.
 */
import t from 'tap'
import type { StreamContext } from '../../src/cdc/index.ts'
import type { KafkaClient } from '../../src/kafka/index.ts'
import { createStore } from '../../src/store/index.ts'
import { waitFor } from '../helpers/index.ts'
import { CONTACT_CHANNEL, startCdcStack } from './helpers.ts'

t.test('onSubscribed gets the stream context in the background; stop aborts its signal and waits for it', async (t) => {
  const contexts: StreamContext[] = []
  let hookEnded = false
  const cdc = await startCdcStack(t, {
    engine: {
      onSubscribed: async (ctx) => {
        contexts.push(ctx)
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }))
        hookEnded = true
      },
    },
  })
  await cdc.waitForHealth('streaming')
  await waitFor(() => contexts.length === 1, 5000, 'onSubscribed')
  const [ctx] = contexts
  t.match(ctx, { merchantId: cdc.merchantId, channel: CONTACT_CHANNEL, orgId: /^00D/, lease: { name: `cdc:${cdc.merchantId}`, fence: Number }, settings: { import: { enabled: true, object: 'Contact' } } })
  await cdc.createContacts('While the hook runs')
  await cdc.waitForChanges(1)
  t.pass('events flow while the hook is still running')

  // faye's own resubscribe is acknowledged too; the running hook is not started twice.
  await cdc.sf('POST', '/faults', { kind: 'cometd-drop-sessions' })
  await cdc.createContacts('After the drop')
  await cdc.waitForChanges(2)
  t.equal(contexts.length, 1, 'not called again while the first call runs')

  t.equal((await cdc.api('PUT', '/import', { enabled: false })).status, 200)
  await cdc.waitForHealth('stopped', 5000)
  t.ok(ctx!.signal.aborted)
  t.ok(hookEnded, 'the stop waited for the hook')
})

t.test('overflow and unreadable events: a resync of everything, nothing on the topic for them, the checkpoint moves past', async (t) => {
  const resyncs: string[] = []
  const cdc = await startCdcStack(t, { engine: { resync: async (_ctx, order) => void resyncs.push(`${order.reason}:${order.from === null ? 'all' : 'window'}`) } })
  await cdc.waitForHealth('streaming')
  await cdc.createContacts('Before')
  const overflow = (await cdc.sf('POST', '/events', { kind: 'overflow', object: 'Contact' })).body.replayId as number
  const garbage = (await cdc.sf('POST', '/publish', { channel: CONTACT_CHANNEL, payload: { Secret__c: 'customer value', ChangeEventHeader: { recordIds: ['003000000000001AAA'] } } })).body.replayId as number
  t.ok(garbage > overflow)
  await waitFor(async () => (await cdc.checkpoint()) === garbage, 10_000, 'checkpoint past both')
  await waitFor(() => resyncs.length === 1, 10_000, 'resync ran')
  t.same(resyncs, ['overflow:all'])
  await cdc.waitForChanges(1)
  t.equal(cdc.changes().length, 1, 'only the record change')
  const warned = cdc.stack.logs.lines().find((l) => l.msg === 'unreadable change event skipped')
  t.match(warned, { level: 40, component: 'cdc', merchantId: cdc.merchantId, replayId: garbage, reason: /changeType/ })
  t.notMatch(cdc.stack.logs.text(), /customer value/, 'values never logged')
  const metrics = await (await fetch(`${cdc.stack.url}/metrics`)).text()
  t.match(metrics, /bridge_cdc_events_total\{[^}]*outcome="invalid"[^}]*\} 1/)
  t.match(metrics, /bridge_cdc_events_total\{[^}]*outcome="resync"[^}]*\} 1/)
})

t.test('a checkpoint outside retention: subscribe to new events, a resync of a window, the checkpoint moves on from the new ids', async (t) => {
  const resyncs: string[] = []
  const cdc = await startCdcStack(t, { engine: { resync: async (_ctx, order) => void resyncs.push(`${order.reason}:${order.from === null ? 'all' : 'window'}`) } })
  await cdc.waitForHealth('streaming')
  await cdc.createContacts('Before')
  await cdc.waitForChanges(1)
  await cdc.stack.app.close()
  await cdc.createContacts('Evicted')
  await cdc.sf('POST', '/faults', { kind: 'cometd-shrink-retention', retainEvents: 0 })
  await cdc.stack.restart()
  await waitFor(() => resyncs.length === 1, 10_000, 'resync ran')
  t.same(resyncs, ['replay-invalid:window'])
  // The stored health said streaming all along; the new engine's stream says when it subscribed again.
  await waitFor(() => cdc.engine().streams()[0]?.state === 'streaming', 10_000, 'subscribed from -1')
  // Subscribed to new events: a change made now arrives, the evicted one is the resync's job.
  await cdc.createContacts('After')
  await cdc.waitForChanges(2)
  t.notOk(cdc.changes().some((c) => c.message.fields.LastName === 'Evicted'))
  const after = cdc.changes().filter((c) => c.message.fields.LastName === 'After').at(-1)!.message.replayId!
  await waitFor(async () => ((await cdc.checkpoint()) ?? 0) >= after, 10_000, 'checkpoint at the new id')
})

t.test('a full queue drops the client; once Kafka caught up it resubscribes from the checkpoint and loses nothing', async (t) => {
  let release: () => void = () => undefined
  let gate: Promise<void> | null = new Promise<void>((resolve) => { release = resolve })
  const gated = (kafka: KafkaClient): KafkaClient => new Proxy(kafka, {
    get(target, prop, receiver) {
      if (prop !== 'produce') return Reflect.get(target, prop, receiver)
      return async (topic: string, messages: Parameters<KafkaClient['produce']>[1]) => {
        if (gate && topic.includes('salesforce-changes')) await gate
        return target.produce(topic, messages)
      }
    },
  })
  const cdc = await startCdcStack(t, { engine: { maxQueuedMessages: 3 }, wrap: (s) => ({ ...s, kafka: gated(s.kafka) }) })
  await cdc.waitForHealth('streaming')
  for (let i = 1; i <= 8; i++) await cdc.createContacts(`C${i}`)
  await waitFor(() => cdc.stack.logs.lines().some((l) => /CDC queue full/.test(String(l.msg))), 10_000, 'the queue overflowed')
  gate = null
  release()
  await cdc.waitForChanges(8)
  const names = cdc.changes().map((c) => c.message.fields.LastName as string).sort()
  t.same(names, ['C1', 'C2', 'C3', 'C4', 'C5', 'C6', 'C7', 'C8'], 'each once, none missing')
  await waitFor(() => cdc.stack.logs.lines().some((l) => /drained/.test(String(l.msg))), 5000, 'resubscribed')
  const reader = createStore({ url: `sqlite:${cdc.stack.sqlitePath}` })
  t.teardown(() => reader.close())
  await waitFor(async () => (await reader.getReplayId(cdc.merchantId, CONTACT_CHANNEL)) === Math.max(...cdc.changes().map((c) => c.message.replayId!)), 10_000, 'checkpoint at the last')
})
