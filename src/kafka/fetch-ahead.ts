/**
 * Fetch-ahead for a managed consumer (consumer.ts, `fetchAheadMessages`). kafkajs 2.2.4 fetches
 * again only once every batch of the previous fetch is handled (its fetcher awaits the whole
 * worker queue), so a message waits for the slowest partition's handler of the previous fetch.
 * Here a batch is only handed over: queued behind its partition's earlier batches (one apply at
 * a time per partition, in offset order), its offsets resolved so kafkajs fetches on.
 *
 * Resolved is then no longer applied, so commits never use kafkajs's resolved offsets: each
 * partition keeps the offset after the last message an apply finished, and only that is
 * committed (uncommitted()), only for the assignment it was applied in:
 * - a partition holding more than `maxBufferedMessages` unapplied messages is paused (kafkajs
 *   pause) until half of them are applied; batches waiting together go to the handler as one;
 * - `revoke()` (a rebalance, a stop, a failure): nothing more is taken, queued batches are
 *   dropped (the next holder gets them from the last commit) and it resolves once the applies
 *   in flight settled; what they applied is committed while the old assignment holds;
 * - `joined()` starts an assignment: what was applied before it is never committed again
 *   (kafkajs fetches from the group's committed offsets after every join);
 * - `fence()`: nothing of the current assignment is committed any more (a crash, a stop);
 *   `close()`: revoke for good (the kafkajs consumer is ending).
 * A failing apply stops taking from every partition and is reported to `onFailure` (the
 * consumer commits what was applied and restarts, so the rest is delivered again).
 */
import type { Batch, EachBatchPayload, OffsetsByTopicPartition } from 'kafkajs'

export interface FetchAheadOptions {
  /** Unapplied messages a partition may hold before it is paused; also the most handed over at once. */
  maxBufferedMessages: number
  /**
   * Applies of one partition started before the earlier ones finished (default 1: one at a
   * time). Started in offset order; for a handler that keeps the order itself from the order of
   * its calls (the importer's merchant lanes). Offsets count only over a finished prefix.
   */
  maxInFlight?: number
  /** Applies one batch (several fetched ones of a partition merged). Resolve once its effect is durable. */
  apply: (payload: EachBatchPayload) => Promise<void>
  /** The apply returned, but its result is not to be taken as applied (the consumer is stopping). */
  discardResult: () => boolean
  /** After each successful apply, with the payload handed over (its batch: what was applied). */
  onApplied: (payload: EachBatchPayload) => void
  /** An apply threw (not called while stopping): nothing more is taken until the next join. */
  onFailure: (err: unknown) => void
}

export interface FetchAhead {
  /** A batch kafkajs handed over: queued, its offsets resolved; returns at once. */
  offer(payload: EachBatchPayload): void
  joined(): void
  revoke(): Promise<void>
  /** revoke() for good: no later join takes again (a stop, a restart). */
  close(): Promise<void>
  fence(): void
  /** The applied offsets of the current assignment not yet committed (kafkajs's next-offset form). */
  uncommitted(): OffsetsByTopicPartition
  committed(offsets: OffsetsByTopicPartition): void
  /** The newest payload handed over (its commitOffsetsIfNecessary commits for the consumer's group). */
  latest(): EachBatchPayload | undefined
  /** Messages waiting in queues (not counting applies in flight). */
  buffered(): number
}

interface Apply {
  payload: EachBatchPayload
  generation: number
  outcome: 'running' | 'applied' | 'failed'
  /** What the handler resolved itself. */
  resolved?: string
  settled: Promise<void>
}

interface Lane {
  topic: string
  partition: number
  queue: EachBatchPayload[]
  buffered: number
  /** Applies handed over and not yet counted, oldest first. */
  inFlight: Apply[]
  /** Offset after the last applied message, and the assignment it was applied in. */
  applied?: { offset: string; generation: number }
  committed?: string
  resume?: () => void
}

export function mergeBatches(batches: Batch[]): Batch {
  if (batches.length === 1) return batches[0]!
  const first = batches[0]!
  const last = batches[batches.length - 1]!
  const messages = batches.flatMap((b) => b.messages)
  return {
    topic: last.topic,
    partition: last.partition,
    highWatermark: last.highWatermark,
    messages,
    isEmpty: () => messages.length === 0,
    firstOffset: () => first.firstOffset(),
    lastOffset: () => last.lastOffset(),
    offsetLag: () => last.offsetLag(),
    offsetLagLow: () => first.offsetLagLow(),
  }
}

const next = (offset: string) => (BigInt(offset) + 1n).toString()

export function createFetchAhead(options: FetchAheadOptions): FetchAhead {
  const lanes = new Map<string, Lane>()
  const maxInFlight = options.maxInFlight ?? 1
  let generation = 0
  let commitGeneration = -1
  let taking = false
  let closed = false
  let newest: EachBatchPayload | undefined

  function laneOf(topic: string, partition: number): Lane {
    const key = `${topic}:${partition}`
    let lane = lanes.get(key)
    if (!lane) lanes.set(key, (lane = { topic, partition, queue: [], buffered: 0, inFlight: [] }))
    return lane
  }

  function clear(lane: Lane): void {
    lane.queue = []
    lane.buffered = 0
    lane.resume?.()
    lane.resume = undefined
  }

  function stopTaking(): void {
    taking = false
    for (const lane of lanes.values()) clear(lane)
  }

  function take(lane: Lane): EachBatchPayload[] {
    const taken: EachBatchPayload[] = []
    let count = 0
    while (lane.queue.length > 0 && (taken.length === 0 || count + lane.queue[0]!.batch.messages.length <= options.maxBufferedMessages)) {
      const payload = lane.queue.shift()!
      count += payload.batch.messages.length
      taken.push(payload)
    }
    lane.buffered -= count
    if (lane.resume && lane.buffered <= options.maxBufferedMessages / 2) {
      lane.resume()
      lane.resume = undefined
    }
    return taken
  }

  function handOver(taken: EachBatchPayload[], apply: Apply): EachBatchPayload {
    const newest = taken[taken.length - 1]!
    const current = () => taking && apply.generation === generation
    return {
      ...newest,
      batch: mergeBatches(taken.map((p) => p.batch)),
      // What the handler resolves on the way counts once the applies before it finished (kept when it throws).
      resolveOffset: (offset: string) => {
        if (apply.resolved === undefined || BigInt(offset) > BigInt(apply.resolved)) apply.resolved = offset
      },
      isRunning: () => current() && newest.isRunning(),
      isStale: () => !current(),
    }
  }

  function markApplied(lane: Lane, gen: number, offset: string): void {
    const at = next(offset)
    if (lane.applied && lane.applied.generation === gen && BigInt(lane.applied.offset) >= BigInt(at)) return
    lane.applied = { offset: at, generation: gen }
  }

  /** Applied offsets move only over a prefix of finished applies: never past one in flight or failed. */
  function advance(lane: Lane): void {
    while (lane.inFlight.length > 0) {
      const head = lane.inFlight[0]!
      if (head.outcome === 'running') return
      if (head.resolved !== undefined) markApplied(lane, head.generation, head.resolved)
      if (head.outcome !== 'applied') return // stays at the head: nothing after it counts
      lane.inFlight.shift()
      markApplied(lane, head.generation, head.payload.batch.lastOffset())
      options.onApplied(head.payload)
    }
  }

  function settle(lane: Lane, apply: Apply, err: unknown, failed: boolean): void {
    const discarded = options.discardResult()
    apply.outcome = failed || discarded ? 'failed' : 'applied'
    if (failed && !discarded && apply.generation === generation && taking) {
      stopTaking()
      options.onFailure(err)
    }
    advance(lane)
    pump(lane)
  }

  function pump(lane: Lane): void {
    while (taking && lane.queue.length > 0 && lane.inFlight.filter((a) => a.outcome === 'running').length < maxInFlight) {
      const apply: Apply = { generation, outcome: 'running', settled: Promise.resolve() } as Apply
      apply.payload = handOver(take(lane), apply)
      lane.inFlight.push(apply)
      apply.settled = options.apply(apply.payload).then(
        () => settle(lane, apply, undefined, false),
        (err: unknown) => settle(lane, apply, err, true),
      )
    }
  }

  return {
    offer(payload) {
      if (!taking) return
      const { batch } = payload
      if (batch.isEmpty()) return
      newest = payload
      const lane = laneOf(batch.topic, batch.partition)
      lane.queue.push(payload)
      lane.buffered += batch.messages.length
      payload.resolveOffset(batch.lastOffset())
      if (lane.buffered > options.maxBufferedMessages && !lane.resume) lane.resume = payload.pause()
      pump(lane)
    },
    joined() {
      stopTaking()
      if (closed) return
      for (const lane of lanes.values()) lane.committed = undefined
      generation++
      commitGeneration = generation
      taking = true
    },
    async revoke() {
      stopTaking()
      await Promise.all([...lanes.values()].flatMap((l) => l.inFlight.map((a) => a.settled)))
    },
    close() {
      closed = true
      return this.revoke()
    },
    fence() {
      stopTaking()
      commitGeneration = -1
    },
    uncommitted() {
      const byTopic = new Map<string, Array<{ partition: number; offset: string }>>()
      for (const lane of lanes.values()) {
        const { applied } = lane
        if (!applied || applied.generation !== commitGeneration || applied.offset === lane.committed) continue
        const list = byTopic.get(lane.topic) ?? []
        list.push({ partition: lane.partition, offset: applied.offset })
        byTopic.set(lane.topic, list)
      }
      return { topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })) }
    },
    committed(offsets) {
      for (const { topic, partitions } of offsets.topics) {
        for (const { partition, offset } of partitions) {
          const lane = lanes.get(`${topic}:${partition}`)
          if (lane && (lane.committed === undefined || BigInt(offset) > BigInt(lane.committed))) lane.committed = offset
        }
      }
    },
    latest: () => newest,
    buffered: () => [...lanes.values()].reduce((n, l) => n + l.buffered, 0),
  }
}
