/**
 * A consumer in a group that keeps itself running. `start()` returns at once; connecting,
 * joining and every restart after a crash happen in the background, with the one retry
 * helper (src/retry.ts: backoff with full jitter, abortable), until it runs or is stopped.
 * `health()` says where it is.
 *
 * - Connect and subscribe failures are retried when {@link isRetriableKafkaError} says so;
 *   a permanent one (authorization, an invalid topic name) leaves the consumer `crashed`
 *   and it is not retried.
 * - Every kafkajs crash (its own restart is switched off, so `restart` is always false) is
 *   followed by a fresh kafkajs consumer after a backoff that grows with consecutive crashes
 *   and resets once a batch is handled.
 * - A handler gets an AbortSignal that aborts when the consumer stops; `stop()` then waits for
 *   the handler to return and commits only the offsets that were resolved. A batch whose
 *   handler returns after the signal aborted is not resolved by us (only what the handler
 *   resolved itself is kept), so it is delivered again to whoever holds the partition next.
 * - While a handler runs, the group is heartbeated every `heartbeatIntervalMs`, so a long
 *   handler keeps its partitions while a dead instance loses them after `sessionTimeoutMs`.
 * - With `commitIntervalMs`, the resolved offsets are committed in the background (one commit
 *   in flight, at most one per interval, always the newest resolved offsets; src/coalesce.ts)
 *   and before a stop leaves the group, when a handler throws and when the group rebalances,
 *   instead of kafkajs's commit after every batch (a broker round trip before the next fetch
 *   of every partition). What is committed is still only what a handler finished; a crash
 *   delivers again what was finished since the last commit.
 */
import type { Consumer, EachBatchPayload, IMemberAssignment, Kafka } from 'kafkajs'
import { createCoalescedWriter, type CoalescedWriter } from '../coalesce.ts'
import { createComponent, type Component } from '../component.ts'
import { AppError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import { backoffDelay, retry, sleep } from '../retry.ts'
import { isRetriableKafkaError, shortReason, toKafkaError } from './errors.ts'
import type { KafkaMetrics, PartitionLagSample } from './metrics.ts'

export interface TopicPartition {
  topic: string
  partition: number
}

export interface HandlerContext {
  /** Aborts (reason: AppError `aborted`) when the consumer stops: give up, and throw. */
  signal: AbortSignal
}

/** One batch of one partition, as kafkajs hands it over. */
export type BatchPayload = EachBatchPayload

export type ConsumerState = 'connecting' | 'running' | 'crashed' | 'stopped'

export interface ConsumerHealth {
  groupId: string
  topics: string[]
  /**
   * `connecting` until the group is joined (and again while a restart connects), `running`
   * once joined, `crashed` after a crash until the restart connects (or for good after a
   * permanent start-up error), `stopped` before start and after stop.
   */
  state: ConsumerState
  /** The last error, coded and short (`kafka.unavailable (KafkaJSConnectionError)`, `handler cohort.unavailable`); never a driver message. */
  lastError?: string
  /** Partitions held now (of every subscribed topic), sorted. */
  assignedPartitions: number[]
}

export interface ConsumerSettings {
  /** Full consumer group id (`{prefix}.export`, …). */
  groupId: string
  topics: string[]
  /** Where a group without committed offsets starts. Default false (latest). */
  fromBeginning?: boolean
  /** Partitions handled at once. Default 1. */
  partitionsConsumedConcurrently?: number
  /**
   * Handles one batch of one partition. Resolve only when every message's effect is durable:
   * the batch's last offset is resolved (and committed) after it returns, unless the consumer
   * is stopping. Call `payload.resolveOffset(offset)` on the way to keep progress when a batch
   * may be cut short. Throwing: kafkajs commits what was resolved, retries the batch from the
   * first unresolved message (a few times, seconds apart, when the error is retriable), then the
   * consumer crashes and restarts in the background; the batch is delivered again. A message
   * that can never be handled must go to the dead-letter topic instead of throwing.
   */
  handleBatch: (payload: BatchPayload, context: HandlerContext) => Promise<void>
  /** Partitions this instance was given (after every join). A throw or rejection is logged, never fatal. */
  onAssign?: (partitions: TopicPartition[]) => void | Promise<void>
  /** Partitions this instance gave up (a rebalance, a crash, a stop). Called, not awaited, by the rebalance. */
  onRevoke?: (partitions: TopicPartition[]) => void | Promise<void>
  /** Without a heartbeat for this long, the coordinator drops the member and moves its partitions. Default 20,000 ms. */
  sessionTimeoutMs?: number
  /** Default 3,000 ms (a third of the session timeout or less, as Kafka advises). */
  heartbeatIntervalMs?: number
  /** How long the coordinator waits for members to re-join in a rebalance. Default 30,000 ms (the shutdown budget). */
  rebalanceTimeoutMs?: number
  /** Longest wait of one fetch when there is nothing new (bounds how long a stop waits for an idle fetch). Default 1,000 ms. */
  maxWaitTimeMs?: number
  /**
   * Most bytes one fetch takes of one partition (kafkajs's default: 1 MiB); a fetch takes at
   * most 10 MiB in all. Larger batches suit a handler whose cost is per batch rather than per message.
   */
  maxBytesPerPartition?: number
  /**
   * Commit resolved offsets at most this often, in the background (and on stop, a handler's
   * throw and a rebalance), rather than after every batch. For handlers whose redelivery is
   * harmless (idempotent): a crash delivers again up to this much finished work. Default: after every batch.
   */
  commitIntervalMs?: number
  /** Background restarts: first backoff ceiling and largest backoff. Default 500 and 30,000 ms. */
  restartMinDelayMs?: number
  restartMaxDelayMs?: number
}

export interface KafkaConsumer extends Component {
  health(): ConsumerHealth
}

export interface ManagedConsumer extends KafkaConsumer {
  /** Last lag per held partition, from the consumer's own fetches. */
  lag(): Iterable<PartitionLagSample>
}

interface Run {
  controller: AbortController
  consumer: Consumer | undefined
  /** The background committer of the kafkajs consumer now running (with commitIntervalMs). */
  committer: CoalescedWriter<EachBatchPayload> | undefined
  done: Promise<void>
}

function flatten(assignment: IMemberAssignment): TopicPartition[] {
  return Object.entries(assignment).flatMap(([topic, partitions]) => partitions.map((partition) => ({ topic, partition })))
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve()
    else signal.addEventListener('abort', () => resolve(), { once: true })
  })
}

export function createManagedConsumer(deps: { kafka: Kafka; logger: Logger; metrics: KafkaMetrics; settings: ConsumerSettings }): ManagedConsumer {
  const { kafka, metrics, settings } = deps
  const { groupId, topics } = settings
  const log = deps.logger.child({ groupId })
  const sessionTimeout = settings.sessionTimeoutMs ?? 20_000
  const heartbeatInterval = settings.heartbeatIntervalMs ?? 3_000
  const rebalanceTimeout = settings.rebalanceTimeoutMs ?? 30_000
  const backoff = { minDelayMs: settings.restartMinDelayMs ?? 500, maxDelayMs: settings.restartMaxDelayMs ?? 30_000 }
  if (heartbeatInterval >= sessionTimeout) throw new AppError('config.invalid', `consumer ${groupId}: heartbeatIntervalMs must be below sessionTimeoutMs`)

  let state: ConsumerState = 'stopped'
  let lastError: string | undefined
  let assigned: TopicPartition[] = []
  const lag = new Map<string, PartitionLagSample>()
  let consecutiveCrashes = 0
  let run: Run | undefined

  // A throwing or rejecting listener is logged; it never reaches kafkajs's loop.
  function notify(name: 'onAssign' | 'onRevoke', partitions: TopicPartition[]): void {
    const listener = settings[name]
    if (!listener || partitions.length === 0) return
    const failed = (err: unknown) => log.error({ err, partitions }, `${name} listener failed`)
    try {
      Promise.resolve(listener(partitions)).catch(failed)
    } catch (err) {
      failed(err)
    }
  }

  function revokeAll(): void {
    if (assigned.length === 0) return
    const revoked = assigned
    assigned = []
    for (const p of revoked) lag.delete(`${p.topic}:${p.partition}`)
    notify('onRevoke', revoked)
  }

  /** Commits what the group's members resolved and did not commit yet; a failure only means redelivery. */
  function createCommitter(intervalMs: number): CoalescedWriter<EachBatchPayload> {
    return createCoalescedWriter(async (payload: EachBatchPayload) => {
      try {
        const offsets = payload.uncommittedOffsets()
        if (offsets.topics.length > 0) await payload.commitOffsetsIfNecessary(offsets)
      } catch (err) {
        log.warn({ reason: shortReason(err) }, 'committing offsets failed; the next commit covers them (a crash before it redelivers)')
      }
      return true
    }, { intervalMs })
  }

  async function handle(payload: EachBatchPayload, signal: AbortSignal, committer: CoalescedWriter<EachBatchPayload> | undefined): Promise<void> {
    if (signal.aborted || !payload.isRunning()) return
    const beat = setInterval(() => {
      payload.heartbeat().catch(() => undefined)
    }, heartbeatInterval)
    try {
      await settings.handleBatch(payload, { signal })
    } catch (err) {
      lastError = `handler ${shortReason(err)}`
      // What the handler resolved on the way is kept, as kafkajs's own commit on a throw does.
      if (committer) {
        committer.offer(payload)
        await committer.flush()
      }
      throw err
    } finally {
      clearInterval(beat)
    }
    if (signal.aborted || payload.isStale()) {
      // Stopping: the group is left once this returns, so what was resolved is committed now.
      if (committer && signal.aborted) {
        committer.offer(payload)
        await committer.flush()
      }
      return
    }
    const { batch } = payload
    payload.resolveOffset(batch.lastOffset())
    if (committer) {
      committer.offer(payload)
      if (!payload.isRunning()) await committer.flush()
    }
    consecutiveCrashes = 0
    lag.set(`${batch.topic}:${batch.partition}`, { groupId, topic: batch.topic, partition: batch.partition, lag: Math.max(0, Number(batch.offsetLag())) })
  }

  /** One kafkajs consumer: connect, subscribe, run. Resolves with a promise of its crash. */
  async function startOnce(current: Run): Promise<{ crashed: Promise<unknown> }> {
    const { signal } = current.controller
    const consumer = kafka.consumer({
      groupId,
      sessionTimeout,
      heartbeatInterval,
      rebalanceTimeout,
      maxWaitTimeInMs: settings.maxWaitTimeMs ?? 1_000,
      ...(settings.maxBytesPerPartition === undefined ? {} : { maxBytesPerPartition: settings.maxBytesPerPartition }),
      allowAutoTopicCreation: false,
      // Our loop owns restarts (with jitter, abortable, visible in health).
      retry: { retries: 5, initialRetryTime: 300, maxRetryTime: 5_000, restartOnFailure: async () => false },
    })
    current.consumer = consumer
    const committer = settings.commitIntervalMs === undefined ? undefined : createCommitter(settings.commitIntervalMs)
    current.committer = committer
    let onCrash: (error: unknown) => void = () => undefined
    const crashed = new Promise<unknown>((resolve) => (onCrash = resolve))
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      if (signal.aborted) return
      revokeAll() // eager rebalancing: a re-join gave up whatever was held before
      assigned = flatten(payload.memberAssignment)
      state = 'running'
      log.info({ partitions: assigned }, 'consumer joined the group')
      notify('onAssign', assigned)
    })
    consumer.on(consumer.events.REBALANCING, () => {
      // Best effort, before the re-join: the partitions may go to another member, which would
      // otherwise start from the last commit.
      void committer?.flush()
      revokeAll()
    })
    consumer.on(consumer.events.CRASH, ({ payload }) => onCrash(payload.error))
    try {
      await consumer.connect()
      signal.throwIfAborted()
      await consumer.subscribe({ topics, fromBeginning: settings.fromBeginning ?? false })
      signal.throwIfAborted()
      await consumer.run({
        partitionsConsumedConcurrently: settings.partitionsConsumedConcurrently ?? 1,
        eachBatchAutoResolve: false,
        // kafkajs commits after every batch whenever autoCommit is on (autoCommitInterval does
        // not change that path), so the committer takes over entirely.
        autoCommit: committer === undefined,
        eachBatch: (payload) => handle(payload, signal, committer),
      })
    } catch (err) {
      await consumer.disconnect().catch(() => undefined)
      if (signal.aborted) throw signal.reason
      throw toKafkaError(err, `starting consumer ${groupId}`)
    }
    return { crashed }
  }

  async function keepRunning(current: Run): Promise<void> {
    const { signal } = current.controller
    while (!signal.aborted) {
      state = 'connecting'
      let crashed: Promise<unknown>
      try {
        ;({ crashed } = await retry(() => startOnce(current), {
          retries: Number.POSITIVE_INFINITY,
          ...backoff,
          shouldRetry: isRetriableKafkaError,
          signal,
          onRetry: ({ attempt, delayMs, error }) => {
            lastError = `kafka.unavailable (${shortReason(error)})`
            log.warn({ attempt, delayMs, reason: lastError }, 'consumer cannot connect yet, retrying')
          },
        }))
      } catch (err) {
        if (signal.aborted) return
        state = 'crashed'
        lastError = `${err instanceof AppError ? err.code : 'kafka.unavailable'} (${shortReason(err)})`
        log.error({ err }, 'consumer cannot start and the error is permanent; not retrying')
        return
      }
      const error = await Promise.race([crashed, aborted(signal)])
      if (signal.aborted) return
      consecutiveCrashes++
      metrics.consumerCrash(groupId)
      state = 'crashed'
      if (!lastError?.startsWith('handler ')) lastError = `crash ${shortReason(error)}`
      revokeAll()
      const delayMs = backoffDelay(consecutiveCrashes, backoff)
      log.error({ err: error, delayMs, crashes: consecutiveCrashes }, 'consumer crashed; restarting it in the background')
      try {
        await sleep(delayMs, signal)
      } catch {
        return
      }
    }
  }

  const lifecycle = createComponent(`consumer:${groupId}`, {
    async start() {
      const current: Run = { controller: new AbortController(), consumer: undefined, committer: undefined, done: Promise.resolve() }
      run = current
      lastError = undefined
      consecutiveCrashes = 0
      state = 'connecting'
      current.done = keepRunning(current).catch((err: unknown) => log.error({ err }, 'consumer loop failed'))
    },
    async stop() {
      const current = run
      run = undefined
      if (current) {
        // disconnect() first marks the kafkajs runner as stopping, so what the handler throws
        // once its signal aborts is not retried; it then waits for the handler and commits
        // the offsets that were resolved (with commitIntervalMs: the committer first commits
        // what finished batches resolved, and a handler returning during the stop its own).
        await current.committer?.flush()
        const disconnecting = current.consumer?.disconnect()
        current.controller.abort(new AppError('aborted', `consumer ${groupId} is stopping`))
        await disconnecting?.catch((err: unknown) => log.warn({ err }, 'consumer disconnect failed'))
        await current.done
        // A restart may have made a newer kafkajs consumer just before the abort.
        await current.consumer?.disconnect().catch(() => undefined)
      }
      revokeAll()
      lag.clear()
      state = 'stopped'
      log.info('consumer stopped')
    },
  })

  return {
    ...lifecycle,
    health: () => ({
      groupId,
      topics: [...topics],
      state,
      ...(lastError === undefined ? {} : { lastError }),
      assignedPartitions: [...new Set(assigned.map((p) => p.partition))].sort((a, b) => a - b),
    }),
    lag: () => lag.values(),
  }
}
