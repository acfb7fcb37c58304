/**
 * The Cohort stand-in's producer (sandbox/cohort/kafka-producer.ts) on the real broker: sends
 * made while one is in flight go out together, and a key's events keep the order of the sends.
 */
import { Kafka, logLevel } from 'kafkajs'
import t from 'tap'
import { createEventProducer } from '../../../sandbox/cohort/kafka-producer.ts'
import { createLogger } from '../../../src/logger.ts'
import { kafkaBrokers, randomName, waitFor } from '../../helpers/index.ts'

t.test('concurrent sends (grouped into shared requests): every event published once, in send order per key', async (t) => {
  const topic = randomName('test.cohort-producer')
  const producer = createEventProducer({ brokers: kafkaBrokers, topic, partitions: 3, logger: createLogger({ level: 'silent' }) })
  await producer.start()
  t.teardown(() => producer.stop())
  const kafka = new Kafka({ clientId: 'test', brokers: kafkaBrokers, logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  t.teardown(async () => {
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined)
    await admin.disconnect()
  })

  // 200 sends at once, two keys each, one of them bigger than a group (2,000 messages).
  const sends = Array.from({ length: 200 }, (_, i) => [{ key: 'a', value: String(i) }, { key: `k${i % 7}`, value: String(i) }])
  sends[100] = Array.from({ length: 2_500 }, (_, j) => ({ key: 'big', value: String(j) }))
  await Promise.all(sends.map((messages) => producer.send(messages)))

  const seen = new Map<string, string[]>()
  let total = 0
  const consumer = kafka.consumer({ groupId: randomName('test.cohort-producer') })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  await consumer.run({
    eachBatch: async ({ batch }) => {
      for (const m of batch.messages) {
        const key = String(m.key)
        seen.set(key, [...(seen.get(key) ?? []), String(m.value)])
        total++
      }
    },
  })
  t.teardown(() => consumer.disconnect())
  const expected = sends.reduce((n, s) => n + s.length, 0)
  await waitFor(() => total >= expected, 30_000, 'every event read')
  t.equal(total, expected, 'each event once')
  const order = (key: string) => sends.flatMap((s) => s.filter((m) => m.key === key).map((m) => m.value))
  t.same(seen.get('a'), order('a'), 'key a in send order')
  for (let k = 0; k < 7; k++) t.same(seen.get(`k${k}`), order(`k${k}`), `key k${k} in send order`)
  t.same(seen.get('big'), order('big'), 'the big send whole and in order')
})
