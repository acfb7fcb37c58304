/**
 * The Kafka client of the service; src/kafka is the only folder that imports kafkajs. It owns
 * the admin client, the batching idempotent producer (src/kafka/producer.ts), the consumers
 * other parts create through it (src/kafka/consumer.ts), their health and their metrics.
 * docs/kafka.md is the manual.
 */
import { Kafka, type Admin } from 'kafkajs'
import type { Registry } from 'prom-client'
import { createComponent, type Component } from '../component.ts'
import { AppError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import { retry, withTimeout } from '../retry.ts'
import { createAdminHelpers, type PartitionLag, type PartitionOffset, type PartitionRange, type TopicSpec } from './admin.ts'
import { createManagedConsumer, type ConsumerHealth, type ConsumerSettings, type KafkaConsumer, type ManagedConsumer } from './consumer.ts'
import { isRetriableKafkaError, shortReason, toKafkaError } from './errors.ts'
import { kafkaLogLevel, makeLogCreator } from './logging.ts'
import { createKafkaMetrics } from './metrics.ts'
import { createBatchingProducer, type OutgoingMessage, type ProducerSettings } from './producer.ts'
import { fixRequestQueue } from './request-queue-fix.ts'

fixRequestQueue()

export interface KafkaSettings {
  brokers: string[]
  clientId: string
  /** Topics created at start when missing. */
  topics: TopicSpec[]
  logger: Logger
  logLevel?: string
  /** ms to wait for a TCP connection. Default 3000. */
  connectionTimeoutMs?: number
  /** Where the `bridge_kafka_*` metrics are registered (one client per registry). Default: none. */
  metrics?: Registry
  /** Batching of `produce()`; see {@link ProducerSettings} for the defaults. */
  producer?: ProducerSettings
}

export interface KafkaHealth {
  /** True once the admin client and the producer connected. */
  connected: boolean
  /** Every consumer created through this client, stopped ones included (a new consumer of the same group replaces a stopped one). */
  consumers: ConsumerHealth[]
}

export interface KafkaClient extends Component {
  /** True once admin and producer connected (start may return before, when Kafka is down). */
  isConnected(): boolean
  /** Connection and consumers, for readiness. Never a driver message. */
  health(): KafkaHealth
  /** One cheap round trip to the cluster; throws `kafka.unavailable` with the reason. */
  ping(timeoutMs?: number): Promise<void>
  /** Create missing topics; existing ones are left as they are. */
  ensureTopics(topics: TopicSpec[]): Promise<void>
  /** Delete the topics that exist (tests, tooling). */
  deleteTopics(topics: string[]): Promise<void>
  /**
   * Queue `messages` for `topic`; resolves when every in-sync replica has acknowledged all of
   * them (acks -1, idempotent producer). Concurrent calls share sends. Rejects with
   * `kafka.unavailable` before the client connected and `kafka.produce-failed` otherwise.
   */
  produce(topic: string, messages: OutgoingMessage[]): Promise<void>
  /** A consumer in a group, started and stopped as a component, restarting itself. */
  createConsumer(settings: ConsumerSettings): KafkaConsumer
  /** First offset per partition whose timestamp is at or after `at` (the end offset when none is). */
  offsetsAt(topic: string, at: Date): Promise<PartitionOffset[]>
  /** First stored offset and high watermark per partition. */
  endOffsets(topic: string): Promise<PartitionRange[]>
  /** Committed offsets of a group on a topic (`-1` where none is). */
  groupOffsets(groupId: string, topic: string): Promise<PartitionOffset[]>
  /** Move a group's committed offsets; `conflict` while the group has members. */
  setGroupOffsets(groupId: string, topic: string, offsets: PartitionOffset[]): Promise<void>
  /** Committed offsets and lag of a group on a topic. */
  groupLag(groupId: string, topic: string): Promise<PartitionLag[]>
}

export function createKafkaClient(settings: KafkaSettings): KafkaClient {
  const logger = settings.logger.child({ component: 'kafka' })
  const kafka = new Kafka({
    clientId: settings.clientId,
    brokers: settings.brokers,
    connectionTimeout: settings.connectionTimeoutMs ?? 3000,
    // Small: every loop above kafkajs (connect, consumer restarts) retries with src/retry.ts.
    retry: { retries: 2, initialRetryTime: 300, maxRetryTime: 3000 },
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
  let connected = false
  let reconnect: { controller: AbortController; done: Promise<void> } | undefined
  const consumers: ManagedConsumer[] = []

  const metrics = createKafkaMetrics(settings.metrics, {
    connected: () => connected,
    *lag() {
      for (const c of consumers) yield* c.lag()
    },
    *assigned() {
      for (const c of consumers) {
        const { groupId, assignedPartitions } = c.health()
        yield { groupId, count: assignedPartitions.length }
      }
    },
  })
  let producer = createBatchingProducer({ kafka, logger, metrics, ...(settings.producer ? { settings: settings.producer } : {}) })
  const helpers = createAdminHelpers(() => admin, logger)

  async function ping(timeoutMs = 3000): Promise<void> {
    probeAdmin ??= probe.admin()
    const client = probeAdmin
    try {
      await withTimeout((async () => {
        await client.connect()
        await client.describeCluster()
      })(), timeoutMs, () => new AppError('kafka.unavailable', `Kafka ping timed out after ${timeoutMs} ms`))
    } catch (err) {
      throw toKafkaError(err, 'ping')
    }
  }

  async function connectOnce(): Promise<void> {
    if (!admin) throw new AppError('kafka.unavailable', 'Kafka client is not started')
    try {
      await admin.connect()
    } catch (err) {
      throw toKafkaError(err, 'connect')
    }
    await helpers.ensureTopics(settings.topics)
    try {
      await producer.connect()
    } catch (err) {
      throw toKafkaError(err, 'producer connect')
    }
    connected = true
    logger.info({ brokers: settings.brokers }, 'connected to Kafka')
  }

  // A cluster that is down at start does not stop the service: /readyz says so, and the
  // client keeps trying in the background until it connects, is stopped, or meets a
  // permanent error (bad credentials, say), which is logged and left for an operator.
  function reconnectInBackground(): void {
    const controller = new AbortController()
    const done = retry(connectOnce, {
      retries: Number.POSITIVE_INFINITY,
      minDelayMs: 500,
      maxDelayMs: 15_000,
      shouldRetry: isRetriableKafkaError,
      signal: controller.signal,
      onRetry: ({ attempt, delayMs, error }) => logger.warn({ attempt, delayMs, reason: shortReason(error) }, 'Kafka not reachable, retrying'),
    }).catch((err: unknown) => {
      if (!controller.signal.aborted) logger.error({ err }, 'gave up connecting to Kafka')
    })
    reconnect = { controller, done }
  }

  const lifecycle = createComponent('kafka', {
    async start() {
      admin = kafka.admin()
      probeAdmin ??= probe.admin()
      try {
        // A fast probe first: kafkajs's own connect retries take seconds when nothing answers.
        await ping(3000)
        await connectOnce()
      } catch (err) {
        if (!isRetriableKafkaError(err)) throw err
        logger.warn({ reason: shortReason(err) }, 'Kafka not reachable at start; retrying in the background')
        reconnectInBackground()
      }
    },
    async stop() {
      reconnect?.controller.abort(new AppError('aborted', 'Kafka client stopped'))
      await reconnect?.done
      reconnect = undefined
      // Consumers are stopped by their owners first; any left running stop here.
      await Promise.allSettled(consumers.map((c) => c.stop()))
      await producer.close().catch((err: unknown) => logger.warn({ err }, 'closing the producer failed'))
      await Promise.allSettled([admin?.disconnect(), probeAdmin?.disconnect()])
      connected = false
      admin = undefined
      probeAdmin = undefined
      // A later start gets a producer that takes messages again.
      producer = createBatchingProducer({ kafka, logger, metrics, ...(settings.producer ? { settings: settings.producer } : {}) })
    },
  })

  return {
    ...lifecycle,
    ping,
    isConnected: () => connected,
    health: () => ({ connected, consumers: consumers.map((c) => c.health()) }),

    ensureTopics: helpers.ensureTopics,
    deleteTopics: helpers.deleteTopics,

    async produce(topic, messages) {
      if (!connected) throw new AppError('kafka.unavailable', 'Kafka producer is not connected')
      return producer.produce(topic, messages)
    },

    createConsumer(consumerSettings) {
      const consumer = createManagedConsumer({ kafka, logger, metrics, settings: consumerSettings })
      // A new consumer of a group replaces a stopped one of the same group in health.
      const replaced = consumers.findIndex((c) => c.health().groupId === consumerSettings.groupId && c.health().state === 'stopped')
      if (replaced >= 0) consumers.splice(replaced, 1)
      consumers.push(consumer)
      return { name: consumer.name, start: consumer.start, stop: consumer.stop, health: consumer.health }
    },

    offsetsAt: helpers.offsetsAt,
    endOffsets: helpers.endOffsets,
    groupOffsets: helpers.groupOffsets,
    setGroupOffsets: helpers.setGroupOffsets,
    groupLag: helpers.groupLag,
  }
}
