/**
 * The Cohort stand-in's own Kafka producer, on kafkajs directly (not the bridge's client in
 * src/kafka, so a bug there cannot hide itself in tests that read what the stand-in
 * published). Creates its topic when missing, then publishes with acks=-1: a `send` resolves
 * once every in-sync replica has the events.
 */
import { Kafka, logLevel, Partitioners, type logCreator, type Message, type Producer } from 'kafkajs'
import type { Logger } from '../../src/logger.ts'
import { retry } from '../../src/retry.ts'
import { avoidNegativeKafkaTimer } from './kafkajs-timer.ts'

export interface EventProducerOptions {
  brokers: string[]
  topic: string
  /** Partitions of the topic when the producer creates it. Default 6. */
  partitions?: number
  logger: Logger
  /** Default `cohort-sandbox`. */
  clientId?: string
}

export interface EventProducer {
  /** Create the topic if missing and connect. Idempotent (shares the in-flight start). */
  start(): Promise<void>
  /** Publish in order, acknowledged by all in-sync replicas. */
  send(messages: { key: string; value: string }[]): Promise<void>
  /** Disconnect. Idempotent. */
  stop(): Promise<void>
}

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error', [logLevel.WARN]: 'warn', [logLevel.INFO]: 'info', [logLevel.DEBUG]: 'debug',
}

/** kafkajs log lines into pino, so the stand-in logs one JSON stream. */
const forwardTo = (logger: Logger): logCreator => () => ({ namespace, level, log }) => {
  const { message, timestamp: _timestamp, logger: _name, ...extra } = log
  logger[LEVELS[level] ?? 'info']({ namespace, ...extra }, String(message))
}

export function createEventProducer(options: EventProducerOptions): EventProducer {
  const logger = options.logger.child({ component: 'cohort-sandbox-kafka' })
  const kafka = new Kafka({
    clientId: options.clientId ?? 'cohort-sandbox',
    brokers: options.brokers,
    logLevel: logLevel.WARN,
    logCreator: forwardTo(logger),
    retry: { retries: 5 },
  })
  let producer: Producer | null = null
  let starting: Promise<void> | null = null

  async function createTopicOnce(): Promise<void> {
    const admin = kafka.admin()
    await admin.connect()
    try {
      const existing = await admin.listTopics()
      if (existing.includes(options.topic)) return
      // false (not an error) when another client created it in the meantime.
      await admin.createTopics({ topics: [{ topic: options.topic, numPartitions: options.partitions ?? 6 }], waitForLeaders: true })
    } finally {
      await admin.disconnect()
    }
  }

  // A busy broker may answer the leader wait with UNKNOWN_TOPIC_OR_PARTITION before the new
  // topic's metadata has spread: look again (the topic is then usually there) a few times.
  const ensureTopic = () => retry(() => createTopicOnce(), { retries: 5, minDelayMs: 200, shouldRetry: () => true, onRetry: ({ attempt, error }) => logger.warn({ err: error, attempt, topic: options.topic }, 'creating the user events topic failed; trying again') })

  // Group commit: sends made while one is in flight go together in the next request (up to
  // GROUP_MESSAGES, whole sends only), so a queue of calls costs one broker round trip, not
  // one each; still one request in flight, so the order is kept.
  const GROUP_MESSAGES = 2_000
  const queued: Array<{ messages: Message[]; resolve: () => void; reject: (err: unknown) => void }> = []
  let flushing: Promise<void> | null = null
  async function flushQueued(): Promise<void> {
    while (queued.length > 0) {
      let take = 0
      for (let n = 0; take < queued.length && (take === 0 || n + queued[take]!.messages.length <= GROUP_MESSAGES); take++) n += queued[take]!.messages.length
      const group = queued.splice(0, take)
      try {
        if (!producer) throw new Error('the Cohort stand-in producer is not started')
        await producer.send({ topic: options.topic, acks: -1, messages: group.flatMap((g) => g.messages) })
        for (const g of group) g.resolve()
      } catch (err) {
        for (const g of group) g.reject(err)
      }
    }
    flushing = null
  }

  return {
    start() {
      starting ??= (async () => {
        avoidNegativeKafkaTimer()
        await ensureTopic()
        // One request in flight: a retry never reorders a key's events. A retried send may
        // publish twice (at least once, as contracts §3 warns consumers). Not idempotent on
        // purpose: kafkajs's idempotent producer retries without end, and a stand-in whose
        // broker is gone must fail the call instead of hanging it.
        const p = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, maxInFlightRequests: 1, retry: { retries: 5 } })
        await p.connect()
        producer = p
        logger.info({ topic: options.topic }, 'publishing user events to Kafka')
      })().catch((err: unknown) => {
        starting = null
        throw err
      })
      return starting
    },

    send(messages) {
      if (!producer) return Promise.reject(new Error('the Cohort stand-in producer is not started'))
      const waiter = new Promise<void>((resolve, reject) => queued.push({ messages, resolve, reject }))
      if (!flushing) flushing = flushQueued()
      return waiter
    },

    async stop() {
      const started = starting
      starting = null
      await started?.catch(() => undefined)
      const p = producer
      producer = null
      await p?.disconnect()
    },
  }
}
