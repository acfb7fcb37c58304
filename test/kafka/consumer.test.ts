/**
 * Consumers on the real broker: assignment events and health, lag and crash metrics, the abort
 * signal on stop (with only resolved offsets committed), a broker that is not there, and a
 * crash followed by a background restart.
 */
import t from 'tap'
import { AppError } from '../../src/errors.ts'
import { createKafkaClient, type TopicPartition } from '../../src/kafka/index.ts'
import { createLogSink, randomName, waitFor } from '../helpers/index.ts'
import { collect, counterValue, startTestClient } from './helpers.ts'

t.test('onAssign gets the partitions, health and metrics follow, a throwing listener is only logged', async (t) => {
  const { kafka, metrics, sink, topic } = await startTestClient(t)
  const name = await topic(3)
  await kafka.produce(name, Array.from({ length: 30 }, (_, i) => ({ key: `k${i}`, value: String(i) })))
  const assigned: TopicPartition[][] = []
  const revoked: TopicPartition[][] = []
  const { consumer, groupId, waitForCount } = collect(t, kafka, name, {
    onAssign: (partitions) => {
      assigned.push(partitions)
      throw new Error('listener bug')
    },
    onRevoke: async (partitions) => {
      revoked.push(partitions)
    },
  })
  const started = Date.now()
  await consumer.start()
  t.ok(Date.now() - started < 1_000, 'start returns at once')
  await waitForCount(30)
  t.same(assigned[0]?.map((p) => p.partition).sort(), [0, 1, 2], 'all three partitions assigned')
  t.ok(assigned[0]?.every((p) => p.topic === name))
  t.ok(sink.lines().some((l) => l.msg === 'onAssign listener failed' && l.groupId === groupId), 'the throw is logged')

  const health = kafka.health()
  t.equal(health.connected, true)
  t.match(health.consumers, [{ groupId, topics: [name], state: 'running', assignedPartitions: [0, 1, 2] }])
  t.notOk(health.consumers[0]?.lastError)

  const text = await metrics.metrics()
  t.match(text, new RegExp(`bridge_kafka_consumer_assigned_partitions\\{group="${groupId}"\\} 3`))
  for (const p of [0, 1, 2]) t.match(text, new RegExp(`bridge_kafka_consumer_lag\\{group="${groupId}",topic="${name}",partition="${p}"\\} 0`), `lag of partition ${p} is 0`)

  await consumer.stop()
  t.same(revoked.at(-1)?.map((p) => p.partition).sort(), [0, 1, 2], 'stop revokes what was held')
  t.match(kafka.health().consumers, [{ groupId, state: 'stopped', assignedPartitions: [] }])
  t.notMatch(await metrics.metrics(), new RegExp(`bridge_kafka_consumer_lag\\{group="${groupId}"`), 'no lag series of a stopped consumer')
})

t.test('stop aborts the handler signal, waits for the handler, commits only resolved offsets', async (t) => {
  const { kafka, topic } = await startTestClient(t)
  const name = await topic(1)
  await kafka.produce(name, Array.from({ length: 10 }, (_, i) => ({ key: 'k', value: String(i) })))
  let handlerWaiting = false
  let handlerReturned = false
  let abortReason: unknown
  const { consumer, groupId } = collect(t, kafka, name, {
    handleBatch: async ({ batch, resolveOffset }, { signal }) => {
      resolveOffset((batch.messages[4] as { offset: string }).offset) // the first five are done
      handlerWaiting = true
      try {
        // A long Cohort or Salesforce retry, cut short by the signal.
        await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }))
      } catch (err) {
        abortReason = err
        throw err
      } finally {
        handlerReturned = true
      }
    },
  })
  await consumer.start()
  await waitFor(() => handlerWaiting, 30_000, 'the handler to wait')
  const stopping = Date.now()
  await consumer.stop()
  const took = Date.now() - stopping
  t.ok(handlerReturned, 'stop waited for the handler')
  t.match(abortReason, { code: 'aborted' }, 'the signal aborts with an AppError aborted')
  t.ok(took < 5_000, `stop took ${took} ms`)
  t.same(await kafka.groupOffsets(groupId, name), [{ partition: 0, offset: '5' }], 'the committed offset is the first unresolved message')
})

t.test('a broker that is not there: start returns at once, health says connecting, stop is quick', async (t) => {
  const sink = createLogSink('silent')
  const kafka = createKafkaClient({ brokers: ['127.0.0.1:1'], clientId: randomName('test'), topics: [], logger: sink.logger, connectionTimeoutMs: 500 })
  t.teardown(() => kafka.stop())
  let started = Date.now()
  await kafka.start()
  t.ok(Date.now() - started < 5_000, 'the client start does not wait for the broker')
  const consumer = kafka.createConsumer({ groupId: randomName('test.group'), topics: ['anything'], handleBatch: async () => undefined })
  started = Date.now()
  await consumer.start()
  // start() connects in the background: it returns in a few ms (400 leaves room for a loaded machine, under the 500 ms connection timeout).
  t.ok(Date.now() - started < 400, `the consumer start returned in ${Date.now() - started} ms`)
  t.match(kafka.health(), { connected: false, consumers: [{ state: 'connecting', assignedPartitions: [] }] })
  await waitFor(() => kafka.health().consumers[0]?.lastError !== undefined, 15_000, 'a first failed attempt')
  const { lastError } = kafka.health().consumers[0] ?? {}
  t.match(lastError, /^kafka\.unavailable \(\w+\)$/, `lastError is short and coded: ${lastError}`)
  t.equal(kafka.health().consumers[0]?.state, 'connecting', 'still trying')
  started = Date.now()
  await consumer.stop()
  t.ok(Date.now() - started < 5_000, `stop took ${Date.now() - started} ms`)
  t.equal(kafka.health().consumers[0]?.state, 'stopped')
})

t.test('a handler that throws a permanent error crashes the consumer, which restarts in the background', async (t) => {
  const { kafka, metrics, topic } = await startTestClient(t)
  const name = await topic(1)
  await kafka.produce(name, [{ key: 'k', value: 'poison once' }])
  let calls = 0
  const states: string[] = []
  const { consumer, groupId, received } = collect(t, kafka, name, {
    restartMinDelayMs: 1_000,
    handleBatch: async ({ batch }) => {
      calls++
      if (calls === 1) throw new AppError('internal', 'a bug', { retriable: false })
      for (const m of batch.messages) received.push({ key: String(m.key), value: String(m.value), partition: batch.partition, offset: m.offset })
    },
  })
  await consumer.start()
  await waitFor(() => {
    const s = kafka.health().consumers[0]
    if (s && states.at(-1) !== s.state) states.push(s.state)
    return received.length === 1
  }, 30_000, 'the message after the restart')
  t.equal(calls, 2, 'delivered again after the restart')
  t.ok(states.includes('crashed'), `health went through crashed: ${states.join(' → ')}`)
  t.equal(await counterValue(metrics, 'bridge_kafka_consumer_crashes_total'), 1, 'one crash counted')
  const health = kafka.health().consumers.find((c) => c.groupId === groupId)
  t.match(health, { state: 'running', lastError: 'handler internal' }, 'running again; the last error is kept, coded')
})

t.test('a handler that throws a retriable error is retried in place: no crash', async (t) => {
  const { kafka, metrics, topic } = await startTestClient(t)
  const name = await topic(1)
  await kafka.produce(name, [{ key: 'k', value: 'flaky' }])
  let calls = 0
  const { consumer, received } = collect(t, kafka, name, {
    handleBatch: async ({ batch }) => {
      calls++
      if (calls === 1) throw new AppError('cohort.unavailable', 'Cohort answered 503')
      for (const m of batch.messages) received.push({ key: String(m.key), value: String(m.value), partition: batch.partition, offset: m.offset })
    },
  })
  await consumer.start()
  await waitFor(() => received.length === 1, 30_000, 'the retried batch')
  t.equal(calls, 2)
  t.equal(await counterValue(metrics, 'bridge_kafka_consumer_crashes_total'), 0, 'no crash')
  t.equal(kafka.health().consumers[0]?.state, 'running')
})

t.test('a second member of the group: the first is revoked and re-assigned a share, the second gets the rest', async (t) => {
  const { kafka, topic } = await startTestClient(t)
  const name = await topic(2)
  const groupId = randomName('test.group')
  const events: string[] = []
  const member = (label: string) => collect(t, kafka, name, {
    groupId,
    onAssign: (ps) => {
      events.push(`${label} assign ${ps.map((p) => p.partition).sort().join(',')}`)
    },
    onRevoke: (ps) => {
      events.push(`${label} revoke ${ps.map((p) => p.partition).sort().join(',')}`)
    },
  })
  const a = member('a')
  await a.consumer.start()
  await waitFor(() => events.includes('a assign 0,1'), 30_000, 'a to hold both partitions')
  const b = member('b')
  await b.consumer.start()
  await waitFor(() => events.some((e) => e.startsWith('b assign')), 30_000, 'b to be assigned')
  await waitFor(() => events.filter((e) => e.startsWith('a assign')).length === 2, 30_000, 'a to be re-assigned')
  t.ok(events.includes('a revoke 0,1'), 'a gave up both partitions in the rebalance')
  const held = kafka.health().consumers.filter((c) => c.groupId === groupId).map((c) => c.assignedPartitions)
  t.same(held.flat().sort(), [0, 1], `the two members share the partitions: ${JSON.stringify(held)}`)
  t.ok(held.every((p) => p.length === 1))
  t.comment(events.join('; '))
})

t.test('commitIntervalMs: offsets committed in the background at most once per interval, and on stop', async (t) => {
  const { kafka, topic } = await startTestClient(t)
  const name = await topic(1)
  const { consumer, groupId, waitForCount } = collect(t, kafka, name, { commitIntervalMs: 60_000 })
  await kafka.produce(name, Array.from({ length: 5 }, (_, i) => ({ key: 'k', value: String(i) })))
  await consumer.start()
  await waitForCount(5)
  await waitFor(async () => (await kafka.groupOffsets(groupId, name))[0]?.offset === '5', 10_000, 'the first commit, at once')
  await kafka.produce(name, Array.from({ length: 5 }, (_, i) => ({ key: 'k', value: String(5 + i) })))
  await waitForCount(10)
  await new Promise((r) => setTimeout(r, 500))
  t.same(await kafka.groupOffsets(groupId, name), [{ partition: 0, offset: '5' }], 'no commit after the next batch within the interval')
  await consumer.stop()
  t.same(await kafka.groupOffsets(groupId, name), [{ partition: 0, offset: '10' }], 'the stop commits what was handled')
})
