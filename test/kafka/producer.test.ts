/**
 * The batching producer on the real broker: concurrent callers share sends, every caller is
 * answered only for its own messages, one key's messages keep their order, limits are
 * refused up front, and a failed send fails its callers with a code.
 */
import t from 'tap'
import { createKafkaClient } from '../../src/kafka/index.ts'
import { createLogSink, randomName } from '../helpers/index.ts'
import { collect, counterValue, startTestClient } from './helpers.ts'

t.test('10,000 concurrent produce calls share few sends, all acknowledged, consumed in per-key order', async (t) => {
  const { kafka, metrics, topic } = await startTestClient(t)
  const name = await topic(6)
  const calls = 10_000
  const keys = 97
  const acknowledged: number[] = []
  const started = Date.now()
  await Promise.all(Array.from({ length: calls }, (_, i) =>
    kafka.produce(name, [{ key: `m_${i % keys}:rec_${i % keys}`, value: JSON.stringify({ i, padding: 'x'.repeat(480) }) }]).then(() => acknowledged.push(i))))
  t.equal(acknowledged.length, calls, 'every caller was answered')
  const sends = await counterValue(metrics, 'bridge_kafka_produce_batches_total')
  t.ok(sends >= 5 && sends <= 20, `${calls} calls of ~500 bytes went out in ${sends} sends (1 MB each at most)`)
  t.equal(await counterValue(metrics, 'bridge_kafka_produced_messages_total'), calls, 'the produced counter counts messages')
  t.comment(`${calls} calls in ${Date.now() - started} ms, ${sends} sends`)

  const ends = await kafka.endOffsets(name)
  t.equal(ends.reduce((sum, e) => sum + Number(e.high), 0), calls, 'every message is in the topic once')

  const { consumer, received, waitForCount } = collect(t, kafka, name)
  await consumer.start()
  await waitForCount(calls)
  const byKey = new Map<string, number[]>()
  for (const r of received) {
    const list = byKey.get(r.key) ?? []
    list.push((JSON.parse(r.value) as { i: number }).i)
    byKey.set(r.key, list)
  }
  t.equal(byKey.size, keys)
  const ordered = [...byKey.values()].every((list) => list.every((v, j) => j === 0 || (list[j - 1] as number) < v))
  t.ok(ordered, 'each key arrives in call order')
})

t.test('a caller spanning several sends resolves after its last one; limits and bad input are refused up front', async (t) => {
  const { kafka, metrics, topic } = await startTestClient(t, { producer: { maxBatchMessages: 100 } })
  const name = await topic(2)
  const before = await counterValue(metrics, 'bridge_kafka_produce_batches_total')
  await kafka.produce(name, Array.from({ length: 1_000 }, (_, i) => ({ key: `k${i % 3}`, value: String(i) })))
  t.equal(await counterValue(metrics, 'bridge_kafka_produce_batches_total') - before, 10, '1,000 messages, 100 per send')
  t.equal((await kafka.endOffsets(name)).reduce((sum, e) => sum + Number(e.high), 0), 1_000, 'all acknowledged before the call resolved')

  await t.resolves(kafka.produce(name, []), 'nothing to send resolves at once')
  await t.rejects(kafka.produce(name, [{ key: 'k', value: 'x'.repeat(1_000_001) }]), { code: 'kafka.produce-failed', retriable: false }, 'a message over the limit')
  await t.rejects(kafka.produce(name, [{ key: 'k', value: undefined as unknown as string }]), { code: 'kafka.produce-failed', retriable: false }, 'a message without a value')
  await t.rejects(kafka.produce('', [{ key: 'k', value: 'v' }]), { code: 'kafka.produce-failed' }, 'no topic')
})

t.test('a send that fails rejects its callers and those queued behind them with a code; the next send works', async (t) => {
  const { kafka, metrics, topic } = await startTestClient(t)
  const missing = randomName('test.kafka.missing')
  const started = Date.now()
  const first = kafka.produce(missing, [{ key: 'a', value: '1' }])
  await new Promise(setImmediate) // the first send is on its way; the next call queues behind it
  const behind = kafka.produce(missing, [{ key: 'a', value: '2' }])
  const results = await Promise.allSettled([first, behind])
  t.ok(results.every((r) => r.status === 'rejected' && (r.reason as { code?: string }).code === 'kafka.produce-failed'), 'both callers rejected as kafka.produce-failed')
  t.ok(Date.now() - started < 30_000, `failed within ${Date.now() - started} ms (bounded driver retries)`)
  t.ok(await counterValue(metrics, 'bridge_kafka_produce_errors_total') >= 1, 'the error counter counts it')

  const name = await topic(1)
  await t.resolves(kafka.produce(name, [{ key: 'a', value: 'after' }]), 'a later produce goes through (on a fresh producer)')
})

t.test('produce before the client connected is kafka.unavailable at once; stop drains queued messages', async (t) => {
  const sink = createLogSink('silent')
  const down = createKafkaClient({ brokers: ['127.0.0.1:1'], clientId: randomName('test'), topics: [], logger: sink.logger })
  await t.rejects(down.produce('any', [{ key: 'k', value: 'v' }]), { code: 'kafka.unavailable' })

  const { kafka, topic } = await startTestClient(t, { producer: { lingerMs: 5_000 } })
  const name = await topic(1)
  const pending = kafka.produce(name, [{ key: 'k', value: 'lingering' }])
  const stopped = Date.now()
  await kafka.stop()
  await t.resolves(pending, 'a message lingering at stop is sent, not dropped')
  t.ok(Date.now() - stopped < 4_000, 'stop sent it at once instead of waiting for the linger')
  await kafka.start()
  t.equal((await kafka.endOffsets(name))[0]?.high, '1')
  const again = kafka.produce(name, [{ key: 'k', value: 'after restart' }])
  await kafka.stop()
  await t.resolves(again, 'a restarted client takes messages again')
})
