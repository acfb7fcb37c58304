/**
 * Fetch-ahead (src/kafka/fetch-ahead.ts, consumer.ts `fetchAheadMessages`). On the real broker:
 * a partition whose apply is stuck does not hold back the others' next fetches, and its
 * committed offset stays at what was applied while kafkajs has resolved further; a stop lets
 * the apply in flight finish and commits it; a failing apply restarts the consumer and the
 * partition is delivered again from the first unapplied message (nothing skipped); a second
 * member's join revokes: the first member's late apply is not committed after the revoke.
 * The queue alone (kafkajs's payloads as plain objects): order, merging, the bound (pause and
 * resume), what is committed after a revoke and a join.
 */
import t from 'tap'
import type { Batch, EachBatchPayload, KafkaMessage } from 'kafkajs'
import { AppError } from '../../src/errors.ts'
import { createFetchAhead, type FetchAheadOptions } from '../../src/kafka/fetch-ahead.ts'
import type { BatchPayload } from '../../src/kafka/index.ts'
import { randomName, waitFor } from '../helpers/index.ts'
import { collect, counterValue, startTestClient } from './helpers.ts'

const values = (p: BatchPayload) => p.batch.messages.map((m) => String(m.value))

function gate(): { wait: Promise<void>; open: () => void } {
  let open = () => undefined as void
  const wait = new Promise<void>((resolve) => (open = resolve))
  return { wait, open }
}

t.test('a stuck apply holds back only its partition; its commit stays at what was applied', async (t) => {
  const { kafka, topic } = await startTestClient(t)
  const name = await topic(2)
  const stuck = gate()
  const seen: Record<number, string[]> = { 0: [], 1: [] }
  const { consumer, groupId } = collect(t, kafka, name, {
    fetchAheadMessages: 100,
    commitIntervalMs: 100,
    handleBatch: async (payload) => {
      seen[payload.batch.partition]!.push(...values(payload))
      if (payload.batch.partition === 0 && values(payload).includes('p0-b')) await stuck.wait
    },
  })
  await kafka.produce(name, [{ key: 'a', value: 'p0-a', partition: 0 }])
  await consumer.start()
  await waitFor(() => seen[0]!.length === 1, 30_000, 'the first message of partition 0')
  await waitFor(async () => (await kafka.groupOffsets(groupId, name)).find((o) => o.partition === 0)?.offset === '1', 10_000, 'its commit')
  await kafka.produce(name, [{ key: 'a', value: 'p0-b', partition: 0 }])
  await waitFor(() => seen[0]!.includes('p0-b'), 30_000, 'partition 0 stuck in p0-b')
  await kafka.produce(name, [{ key: 'a', value: 'p0-c', partition: 0 }])
  // Fetches go on: partition 1's messages of later fetches are applied meanwhile.
  for (let i = 0; i < 3; i++) {
    await kafka.produce(name, [{ key: 'b', value: `p1-${i}`, partition: 1 }])
    await waitFor(() => seen[1]!.length === i + 1, 30_000, `p1-${i} while partition 0 is stuck`)
  }
  await new Promise((r) => setTimeout(r, 500))
  t.same(seen[0], ['p0-a', 'p0-b'], 'p0-c waits behind p0-b (order per partition)')
  const offsets = await kafka.groupOffsets(groupId, name)
  t.same(offsets.find((o) => o.partition === 0), { partition: 0, offset: '1' }, 'partition 0 committed up to what was applied, not what was fetched')
  t.same(offsets.find((o) => o.partition === 1), { partition: 1, offset: '3' })
  stuck.open()
  await waitFor(() => seen[0]!.includes('p0-c'), 30_000, 'p0-c after p0-b')
  t.same(seen[0], ['p0-a', 'p0-b', 'p0-c'])
  await consumer.stop()
  t.same((await kafka.groupOffsets(groupId, name)).find((o) => o.partition === 0), { partition: 0, offset: '3' }, 'all applied, all committed')
})

t.test('a stop lets the apply in flight finish, commits it, and drops what is queued', async (t) => {
  const { kafka, topic } = await startTestClient(t)
  const name = await topic(1)
  const slow = gate()
  const applied: string[] = []
  let inFlight = false
  const { consumer, groupId } = collect(t, kafka, name, {
    fetchAheadMessages: 100,
    commitIntervalMs: 60_000,
    stopGraceMs: 10_000,
    handleBatch: async (payload, { signal }) => {
      inFlight = true
      await slow.wait
      t.notOk(signal.aborted, 'not aborted within the grace')
      applied.push(...values(payload))
    },
  })
  await kafka.produce(name, [{ key: 'k', value: 'first' }])
  await consumer.start()
  await waitFor(() => inFlight, 30_000, 'the first apply')
  await kafka.produce(name, [{ key: 'k', value: 'queued' }])
  await new Promise((r) => setTimeout(r, 500)) // fetched and queued behind the first
  const stopping = consumer.stop()
  setTimeout(slow.open, 300)
  await stopping
  t.same(applied, ['first'], 'the queued batch is not taken once the stop began')
  t.same(await kafka.groupOffsets(groupId, name), [{ partition: 0, offset: '1' }], 'what finished is committed, nothing past it')
})

t.test('a failing apply: what finished is committed, the consumer restarts, the rest comes again in order', async (t) => {
  const { kafka, metrics, topic } = await startTestClient(t)
  const name = await topic(1)
  const applied: string[] = []
  let failed = false
  const { consumer, groupId } = collect(t, kafka, name, {
    fetchAheadMessages: 100,
    commitIntervalMs: 60_000,
    restartMinDelayMs: 200,
    handleBatch: async (payload) => {
      const vs = values(payload)
      if (vs.includes('poison') && !failed) {
        failed = true
        // Half done before the failure: the handler's own resolveOffset is kept.
        payload.resolveOffset(payload.batch.messages[0]!.offset)
        applied.push(vs[0]!)
        throw new AppError('cohort.unavailable', 'Cohort answered 503')
      }
      applied.push(...vs)
    },
  })
  await kafka.produce(name, [{ key: 'k', value: 'm0' }])
  await consumer.start()
  await waitFor(() => applied.length === 1, 30_000, 'm0')
  await kafka.produce(name, [{ key: 'k', value: 'm1' }, { key: 'k', value: 'poison' }, { key: 'k', value: 'm3' }])
  await waitFor(() => applied.includes('m3'), 30_000, 'm3 after the restart')
  t.same(applied, ['m0', 'm1', 'poison', 'm3'], 'nothing skipped, nothing applied twice past what was applied')
  t.equal(await counterValue(metrics, 'bridge_kafka_consumer_crashes_total'), 1, 'counted as a crash')
  t.match(kafka.health().consumers.find((c) => c.groupId === groupId), { state: 'running', lastError: 'handler cohort.unavailable' })
  await consumer.stop()
  t.same(await kafka.groupOffsets(groupId, name), [{ partition: 0, offset: '4' }])
})

t.test('a rebalance: applies that finish after the new assignment are not committed by the old holder', async (t) => {
  const { kafka, topic } = await startTestClient(t)
  const name = await topic(2)
  const groupId = randomName('test.group')
  const slow = gate()
  const appliedByA: string[] = []
  let aInFlight = 0
  const a = collect(t, kafka, name, {
    groupId,
    fetchAheadMessages: 100,
    commitIntervalMs: 50,
    handleBatch: async (payload) => {
      if (values(payload).some((v) => v.startsWith('late')) && aInFlight < 2) {
        aInFlight++
        await slow.wait
      }
      appliedByA.push(...values(payload))
    },
  })
  await kafka.produce(name, [0, 1].map((partition) => ({ key: 'k', value: `early${partition}`, partition })))
  await a.consumer.start()
  await waitFor(async () => (await kafka.groupOffsets(groupId, name)).every((o) => o.offset === '1'), 30_000, 'both early committed')
  await kafka.produce(name, [0, 1].map((partition) => ({ key: 'k', value: `late${partition}`, partition })))
  await waitFor(() => aInFlight === 2, 30_000, 'a stuck in both late')
  // b takes whatever it is given and never finishes it (nor commits).
  const b = collect(t, kafka, name, {
    groupId,
    handleBatch: (_payload, { signal }) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true })),
  })
  await b.consumer.start()
  await waitFor(() => b.consumer.health().assignedPartitions.length === 1 && a.consumer.health().assignedPartitions.length === 1, 30_000, 'one partition each')
  const [ofB] = b.consumer.health().assignedPartitions
  const [ofA] = a.consumer.health().assignedPartitions
  slow.open()
  await waitFor(() => appliedByA.includes(`late${ofA}`) && appliedByA.filter((v) => v.startsWith('late')).length >= 3, 10_000, 'a finishes both, and applies its partition again')
  await waitFor(async () => (await kafka.groupOffsets(groupId, name)).find((o) => o.partition === ofA)?.offset === '2', 10_000, 'a commits its own partition in the new assignment')
  await new Promise((r) => setTimeout(r, 500))
  const offsets = await kafka.groupOffsets(groupId, name)
  t.same(offsets.find((o) => o.partition === ofB), { partition: ofB, offset: '1' }, "b's partition keeps the offset of before the revoke: a's late apply is not committed")
  t.comment(`a: ${appliedByA.join(', ')}`)
})

// ---- the queue alone ----

function fakePayload(partition: number, offsets: number[], log: string[]): EachBatchPayload {
  const messages = offsets.map((o) => ({ offset: String(o), value: Buffer.from(`m${o}`) }) as unknown as KafkaMessage)
  const batch = {
    topic: 'x',
    partition,
    highWatermark: String(offsets.at(-1)! + 1),
    messages,
    isEmpty: () => messages.length === 0,
    firstOffset: () => messages[0]!.offset,
    lastOffset: () => messages.at(-1)!.offset,
    offsetLag: () => '0',
    offsetLagLow: () => '0',
  } satisfies Batch
  return {
    batch,
    resolveOffset: (o: string) => void log.push(`resolve ${partition}:${o}`),
    pause: () => {
      log.push(`pause ${partition}`)
      return () => void log.push(`resume ${partition}`)
    },
    isRunning: () => true,
    isStale: () => false,
  } as unknown as EachBatchPayload
}

function queue(overrides: Partial<FetchAheadOptions> = {}) {
  const log: string[] = []
  const gates: Array<() => void> = []
  const ahead = createFetchAhead({
    maxBufferedMessages: 4,
    apply: async (p) => {
      log.push(`apply ${p.batch.partition}:${p.batch.messages.map((m) => m.offset).join(',')}`)
      await new Promise<void>((resolve) => gates.push(resolve))
    },
    discardResult: () => false,
    onApplied: () => undefined,
    onFailure: (err) => void log.push(`failure ${(err as Error).message}`),
    ...overrides,
  })
  const release = async () => {
    gates.shift()?.()
    await new Promise((r) => setImmediate(r))
  }
  return { ahead, log, release }
}

t.test('queue: in order per partition, waiting batches merged up to the bound, paused above it and resumed at half', async (t) => {
  const { ahead, log, release } = queue()
  ahead.joined()
  ahead.offer(fakePayload(0, [0, 1], log))
  ahead.offer(fakePayload(1, [0], log))
  ahead.offer(fakePayload(0, [2, 3], log))
  ahead.offer(fakePayload(0, [4, 5], log))
  ahead.offer(fakePayload(0, [6], log))
  t.same(log, ['resolve 0:1', 'apply 0:0,1', 'resolve 1:0', 'apply 1:0', 'resolve 0:3', 'resolve 0:5', 'resolve 0:6', 'pause 0'], 'resolved at hand-off; paused past 4 waiting')
  t.equal(ahead.buffered(), 5)
  t.same(ahead.uncommitted(), { topics: [] }, 'nothing applied, nothing to commit')
  log.length = 0
  await release() // partition 0's first batch
  t.same(log, ['resume 0', 'apply 0:2,3,4,5'], 'the next batches go together, up to the bound; resumed with at most half the bound waiting')
  t.same(ahead.uncommitted(), { topics: [{ topic: 'x', partitions: [{ partition: 0, offset: '2' }] }] })
  log.length = 0
  ahead.offer(fakePayload(0, [7, 8, 9, 10], log))
  await release() // partition 1
  await release() // partition 0: 2..5
  t.same(log, ['resolve 0:10', 'pause 0', 'apply 0:6'], 'paused again; 4 still waiting: not resumed')
  t.same(ahead.uncommitted(), { topics: [{ topic: 'x', partitions: [{ partition: 0, offset: '6' }, { partition: 1, offset: '1' }] }] })
  ahead.committed(ahead.uncommitted())
  t.same(ahead.uncommitted(), { topics: [] }, 'committed once')
  log.length = 0
  await release()
  t.same(log, ['resume 0', 'apply 0:7,8,9,10'])
})

t.test('queue: a revoke drops what waits and keeps what the apply in flight finishes; a join fences it', async (t) => {
  const { ahead, log, release } = queue()
  ahead.joined()
  ahead.offer(fakePayload(0, [0], log))
  ahead.offer(fakePayload(0, [1], log))
  const revoked = ahead.revoke()
  ahead.offer(fakePayload(0, [2], log))
  await release()
  await revoked
  t.same(log.filter((l) => l.startsWith('apply')), ['apply 0:0'], 'nothing taken after the revoke')
  t.same(ahead.uncommitted(), { topics: [{ topic: 'x', partitions: [{ partition: 0, offset: '1' }] }] }, 'the apply in flight is committed before the join')

  const second = queue()
  second.ahead.joined()
  second.ahead.offer(fakePayload(0, [0], second.log))
  void second.ahead.revoke()
  second.ahead.joined() // the new assignment came before the apply finished
  await second.release()
  t.same(second.ahead.uncommitted(), { topics: [] }, 'never committed after the join')
  second.ahead.offer(fakePayload(0, [0], second.log))
  t.same(second.log.filter((l) => l.startsWith('apply')), ['apply 0:0', 'apply 0:0'], 'redelivered after the join, applied again')
  await second.release()
  second.ahead.fence()
  t.same(second.ahead.uncommitted(), { topics: [] }, 'fenced: nothing committed')
})

t.test('queue: a failing apply stops taking everywhere; what the handler resolved is kept', async (t) => {
  const log: string[] = []
  const ahead = createFetchAhead({
    maxBufferedMessages: 10,
    apply: async (p) => {
      p.resolveOffset(p.batch.messages[0]!.offset)
      throw new Error('boom')
    },
    discardResult: () => false,
    onApplied: () => undefined,
    onFailure: (err) => void log.push(`failure ${(err as Error).message}`),
  })
  ahead.joined()
  ahead.offer(fakePayload(0, [0, 1, 2], log))
  await new Promise((r) => setImmediate(r))
  ahead.offer(fakePayload(0, [3], log))
  t.same(log, ['resolve 0:2', 'failure boom'], 'reported once; nothing more taken')
  t.same(ahead.uncommitted(), { topics: [{ topic: 'x', partitions: [{ partition: 0, offset: '1' }] }] }, 'up to what the handler resolved')
})
