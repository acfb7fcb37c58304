/**
 * The Kafka wrapper against the real broker (scripts/kafka.sh): topics, acknowledged
 * produce, a consumer group, offsets by timestamp, lag, and kafkajs logs landing in pino.
 */
import t from 'tap'
import { createKafkaClient } from '../../src/kafka/index.ts'
import { createLogSink, kafkaBrokers, randomName, waitFor } from '../helpers/index.ts'

t.test('kafkajs works against the pinned broker: topics, produce, group consume, offsets by time, lag', async (t) => {
  const sink = createLogSink('info')
  const topic = randomName('test.kafka')
  const kafka = createKafkaClient({ brokers: kafkaBrokers, clientId: randomName('test'), topics: [{ topic, numPartitions: 3 }], logger: sink.logger })
  t.teardown(() => kafka.stop())
  await kafka.start()
  await kafka.start() // idempotent
  await kafka.ping()
  await kafka.ensureTopics([{ topic, numPartitions: 3 }]) // existing topic: nothing to do

  const before = new Date()
  await kafka.produce(topic, [
    { key: 'm_1:u_1', value: JSON.stringify({ n: 1 }) },
    { key: 'm_1:u_1', value: JSON.stringify({ n: 2 }) },
    { key: 'm_2:u_9', value: JSON.stringify({ n: 3 }) },
  ])

  const seen: { key: string; n: number; partition: number }[] = []
  const groupId = randomName('test.group')
  const consumer = kafka.createConsumer({
    groupId,
    topics: [topic],
    fromBeginning: true,
    handleBatch: async ({ batch }) => {
      for (const m of batch.messages) {
        seen.push({ key: String(m.key), n: (JSON.parse(String(m.value)) as { n: number }).n, partition: batch.partition })
      }
    },
  })
  await consumer.start()
  await waitFor(() => seen.length === 3, 30_000, 'three messages')
  await consumer.stop()

  const ofKey = seen.filter((s) => s.key === 'm_1:u_1')
  t.same(ofKey.map((s) => s.n), [1, 2], 'one key stays in order')
  t.equal(new Set(ofKey.map((s) => s.partition)).size, 1, 'one key, one partition')

  const offsets = await kafka.offsetsAt(topic, before)
  t.equal(offsets.length, 3)
  const total = offsets.reduce((sum, o) => sum + Number(o.offset), 0)
  t.equal(total, 0, 'every message is after `before`, so each partition starts at 0')
  const later = await kafka.offsetsAt(topic, new Date(Date.now() + 60_000))
  const ends = await kafka.endOffsets(topic)
  t.same(later, ends.map((e) => ({ partition: e.partition, offset: e.high })), 'a future timestamp answers the high watermark of every partition')
  t.equal(ends.reduce((sum, e) => sum + Number(e.high), 0), 3, 'the high watermarks count the three messages')

  const lag = await kafka.groupLag(groupId, topic)
  t.equal(lag.reduce((sum, p) => sum + p.lag, 0), 0, 'group committed everything it handled')
  const unknownGroupLag = await kafka.groupLag(randomName('nobody'), topic)
  t.equal(unknownGroupLag.reduce((sum, p) => sum + p.lag, 0), 3, 'a group with no offsets lags by everything')

  t.ok(sink.lines().some((l) => l.component === 'kafka' && l.msg === 'connected to Kafka'), 'logs go through pino')
})

t.test('a bad broker address is reported as kafka.unavailable, fast', async (t) => {
  const sink = createLogSink('silent')
  const kafka = createKafkaClient({ brokers: ['127.0.0.1:1'], clientId: 'nobody', topics: [], logger: sink.logger })
  t.teardown(() => kafka.stop())
  const started = Date.now()
  await t.rejects(kafka.ping(2000), { code: 'kafka.unavailable' })
  t.ok(Date.now() - started < 5000, 'ping does not retry for long')
})
