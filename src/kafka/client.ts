/**
 * The only place that imports kafkajs. Owns the admin client, one acknowledged idempotent
 * producer, and the consumers other parts create through it.
 */
import { Kafka, Partitioners, type Admin, type Consumer, type EachBatchPayload, type IHeaders, type Producer } from 'kafkajs'
import { AppError } from '../errors.ts'
import { createComponent, type Component } from '../component.ts'
import type { Logger } from '../logger.ts'
import { retry, withTimeout } from '../retry.ts'
import { kafkaLogLevel, makeLogCreator } from './logging.ts'

export interface TopicSpec {
  topic: string
  numPartitions: number
}

export interface KafkaSettings {
  brokers: string[]
  clientId: string
  /** Topics created at start when missing. */
  topics: TopicSpec[]
  logger: Logger
  logLevel?: string
  /** ms to wait for a TCP connection. Default 3000. */
  connectionTimeoutMs?: number
}

export interface OutgoingMessage {
  key: string | null
  value: string | Buffer | null
  headers?: IHeaders
  timestamp?: string
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
   * Handles one batch of one partition. Resolve only when every message's effect is
   * durable: offsets are committed after it returns (or as it calls resolveOffset).
   */
  handleBatch: (payload: EachBatchPayload) => Promise<void>
}

export interface PartitionOffset {
  partition: number
  offset: string
}

export interface KafkaClient extends Component {
  /** True once admin and producer connected (start may return before, when Kafka is down). */
  isConnected(): boolean
  /** One cheap round trip to the cluster; throws `kafka.unavailable` with the reason. */
  ping(timeoutMs?: number): Promise<void>
  /** Create missing topics; existing ones are left as they are. */
  ensureTopics(topics: TopicSpec[]): Promise<void>
  /** Send and wait for every in-sync replica to acknowledge (acks=-1). */
  produce(topic: string, messages: OutgoingMessage[]): Promise<void>
  /** A consumer in a group, started and stopped as a component. */
  createConsumer(settings: ConsumerSettings): Component
  /** First offset per partition whose timestamp is at or after `at` (replay). */
  offsetsAt(topic: string, at: Date): Promise<PartitionOffset[]>
  /** Committed offsets and lag of a group on a topic. */
  groupLag(groupId: string, topic: string): Promise<{ partition: number; committed: string; end: string; lag: number }[]>
}

function unavailable(err: unknown, what: string): AppError {
  const reason = err instanceof Error ? err.message : String(err)
  return new AppError('kafka.unavailable', `Kafka ${what} failed: ${reason}`, { cause: err })
}

export function createKafkaClient(settings: KafkaSettings): KafkaClient {
  const logger = settings.logger.child({ component: 'kafka' })
  const kafka = new Kafka({
    clientId: settings.clientId,
    brokers: settings.brokers,
    connectionTimeout: settings.connectionTimeoutMs ?? 3000,
    logLevel: kafkaLogLevel(settings.logLevel ?? 'info'),
    logCreator: makeLogCreator(logger),
  })
  // Pings must answer fast: no retries inside kafkajs, the caller asks again.
  const probe = new Kafka({
    clientId: `${settings.clientId}-probe`,
    brokers: settings.brokers,
    connectionTimeout: 1500,
    requestTimeout: 3000,
    retry: { retries: 0 },
    logLevel: kafkaLogLevel('error'),
    logCreator: makeLogCreator(logger.child({ probe: true })),
  })

  let admin: Admin | undefined
  // Created up front so ping works before start (the status command probes first).
  let probeAdmin: Admin | undefined = probe.admin()
  let producer: Producer | undefined

  async function ensureTopics(topics: TopicSpec[]): Promise<void> {
    if (!admin) throw new AppError('kafka.unavailable', 'Kafka client is not started')
    const existing = new Set(await admin.listTopics())
    const missing = topics.filter((t) => !existing.has(t.topic))
    if (missing.length === 0) return
    await admin.createTopics({ topics: missing.map((t) => ({ topic: t.topic, numPartitions: t.numPartitions })), waitForLeaders: true })
    logger.info({ topics: missing.map((t) => t.topic) }, 'created topics')
  }

  let connected = false

  async function ping(timeoutMs = 3000): Promise<void> {
    probeAdmin ??= probe.admin()
    const client = probeAdmin
    try {
      await withTimeout((async () => {
        await client.connect()
        await client.describeCluster()
      })(), timeoutMs, () => new AppError('kafka.unavailable', `Kafka ping timed out after ${timeoutMs} ms`))
    } catch (err) {
      if (err instanceof AppError) throw err
      throw unavailable(err, 'ping')
    }
  }
  let reconnect: { controller: AbortController; done: Promise<void> } | undefined

  async function connectOnce(): Promise<void> {
    if (!admin || !producer) throw new AppError('kafka.unavailable', 'Kafka client is not started')
    try {
      await admin.connect()
      await ensureTopics(settings.topics)
      await producer.connect()
    } catch (err) {
      throw unavailable(err, 'connect')
    }
    connected = true
    logger.info({ brokers: settings.brokers }, 'connected to Kafka')
  }

  // A cluster that is down at start does not stop the service: /readyz says so, and the
  // client keeps trying in the background until it connects or is stopped.
  function reconnectInBackground(): void {
    const controller = new AbortController()
    const done = retry(connectOnce, {
      retries: Number.POSITIVE_INFINITY,
      minDelayMs: 500,
      maxDelayMs: 15_000,
      shouldRetry: () => !controller.signal.aborted,
      signal: controller.signal,
      onRetry: ({ attempt, delayMs, error }) => logger.warn({ attempt, delayMs, reason: (error as Error).message }, 'Kafka not reachable, retrying'),
    }).catch((err: unknown) => {
      if (!controller.signal.aborted) logger.error({ err }, 'gave up connecting to Kafka')
    })
    reconnect = { controller, done }
  }

  const lifecycle = createComponent('kafka', {
    async start() {
      admin = kafka.admin()
      probeAdmin ??= probe.admin()
      producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true, maxInFlightRequests: 5 })
      try {
        // A fast probe first: kafkajs's own connect retries take many seconds when nothing answers.
        await ping(3000)
        await connectOnce()
      } catch (err) {
        logger.warn({ reason: (err as Error).message }, 'Kafka not reachable at start; retrying in the background')
        reconnectInBackground()
      }
    },
    async stop() {
      reconnect?.controller.abort(new AppError('kafka.unavailable', 'Kafka client stopped'))
      await reconnect?.done
      reconnect = undefined
      await Promise.allSettled([producer?.disconnect(), admin?.disconnect(), probeAdmin?.disconnect()])
      connected = false
      producer = undefined
      admin = undefined
      probeAdmin = undefined
    },
  })

  return {
    ...lifecycle,

    ping,

    ensureTopics,

    isConnected: () => connected,

    async produce(topic, messages) {
      if (!producer || !connected) throw new AppError('kafka.unavailable', 'Kafka producer is not connected')
      try {
        await producer.send({ topic, acks: -1, messages })
      } catch (err) {
        throw new AppError('kafka.produce-failed', `producing to ${topic} failed: ${(err as Error).message}`, { cause: err })
      }
    },

    createConsumer(consumerSettings) {
      let consumer: Consumer | undefined
      const log = logger.child({ groupId: consumerSettings.groupId })
      return createComponent(`consumer:${consumerSettings.groupId}`, {
        async start() {
          consumer = kafka.consumer({ groupId: consumerSettings.groupId })
          const c = consumer
          await retry(async () => {
            await c.connect()
            for (const topic of consumerSettings.topics) {
              await c.subscribe({ topic, fromBeginning: consumerSettings.fromBeginning ?? false })
            }
          }, { retries: 5, shouldRetry: () => true, onRetry: ({ error }) => log.warn({ err: error }, 'consumer connect failed, retrying') })
          await c.run({
            partitionsConsumedConcurrently: consumerSettings.partitionsConsumedConcurrently ?? 1,
            eachBatchAutoResolve: true,
            eachBatch: consumerSettings.handleBatch,
          })
          log.info({ topics: consumerSettings.topics }, 'consumer started')
        },
        async stop() {
          // disconnect() waits for the running batch, then commits what it resolved.
          await consumer?.disconnect()
          consumer = undefined
          log.info('consumer stopped')
        },
      })
    },

    async offsetsAt(topic, at) {
      if (!admin) throw new AppError('kafka.unavailable', 'Kafka client is not started')
      return admin.fetchTopicOffsetsByTimestamp(topic, at.getTime())
    },

    async groupLag(groupId, topic) {
      if (!admin) throw new AppError('kafka.unavailable', 'Kafka client is not started')
      // Sequential on purpose: kafkajs keeps retrying a failed call in the background, and a
      // sibling still retrying after Promise.all rejected would outlive disconnect().
      if (!(await admin.listTopics()).includes(topic)) throw new AppError('not-found', `topic ${topic} does not exist`)
      const ends = await admin.fetchTopicOffsets(topic)
      const committed = await admin.fetchOffsets({ groupId, topics: [topic] })
      const byPartition = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, p.offset]))
      return ends.map((e) => {
        const done = byPartition.get(e.partition) ?? '-1'
        const lag = Number(e.high) - (Number(done) < 0 ? Number(e.low) : Number(done))
        return { partition: e.partition, committed: done, end: e.high, lag: Math.max(0, lag) }
      })
    },
  }
}
