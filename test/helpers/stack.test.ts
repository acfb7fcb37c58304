/**
 * The in-process stack's Kafka names: random topics and group prefix per stack, in the
 * bridge's config, and the Cohort stand-in publishing its user events to the stack's cohort
 * events topic.
 */
import { Kafka, logLevel } from 'kafkajs'
import t from 'tap'
import { kafkaBrokers, randomName } from './index.ts'
import { startStack } from './stack.ts'

t.test('each stack has its own topics and group prefix; Cohort events land on its topic', async (t) => {
  const [one, two] = await Promise.all([startStack(t), startStack(t, { cohortEvents: false })])
  t.not(one.topics.cohortEvents, two.topics.cohortEvents)
  t.not(one.groupPrefix, two.groupPrefix)
  t.same(one.config.kafka.topics, one.topics, 'the bridge reads the stack topics')
  t.equal(one.config.kafka.groupPrefix, one.groupPrefix)

  const m = randomName('m')
  const created = await fetch(`${one.cohort.url}/__sandbox/merchants/${m}/users`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ users: [{ email: 'ada@example.com' }] }),
  })
  t.equal(created.status, 200)
  const admin = new Kafka({ clientId: 'test', brokers: kafkaBrokers, logLevel: logLevel.NOTHING }).admin()
  await admin.connect()
  t.teardown(() => admin.disconnect())
  const offsets = await admin.fetchTopicOffsets(one.topics.cohortEvents)
  t.equal(offsets.length, one.config.kafka.partitions, 'created with the configured partitions')
  t.equal(offsets.reduce((sum, p) => sum + Number(p.high), 0), 1, 'the event is on the stack topic')
})
