/**
 * Helpers of the Kafka tests: a started client on the shared broker with its own registry and
 * log sink (stopped, and its topics deleted, at teardown), reading a counter, and a collector
 * of every message of a topic through a consumer group of its own.
 */
import { Registry } from 'prom-client'
import type { Test } from 'tap'
import { createKafkaClient, type ConsumerSettings, type KafkaClient, type KafkaConsumer, type KafkaSettings } from '../../src/kafka/index.ts'
import { createLogSink, kafkaBrokers, randomName, waitFor, type LogSink } from '../helpers/index.ts'

export interface TestClient {
  kafka: KafkaClient
  metrics: Registry
  sink: LogSink
  /** A fresh topic, deleted at teardown. */
  topic(partitions?: number): Promise<string>
}

export async function startTestClient(t: Test, overrides: Partial<KafkaSettings> = {}): Promise<TestClient> {
  const sink = createLogSink('info')
  const metrics = new Registry()
  const kafka = createKafkaClient({ brokers: kafkaBrokers, clientId: randomName('test'), topics: [], logger: sink.logger, metrics, ...overrides })
  const topics: string[] = []
  t.teardown(async () => {
    // A test may have stopped the client; it starts again to clean up its topics.
    await kafka.start()
    if (kafka.isConnected()) await kafka.deleteTopics(topics).catch(() => undefined)
    await kafka.stop()
  })
  await kafka.start()
  return {
    kafka,
    metrics,
    sink,
    async topic(partitions = 3) {
      const topic = randomName('test.kafka')
      topics.push(topic)
      await kafka.ensureTopics([{ topic, numPartitions: partitions }])
      return topic
    },
  }
}

/** Sum of a counter's values, across labels. */
export async function counterValue(metrics: Registry, name: string): Promise<number> {
  const metric = await metrics.getSingleMetric(name)?.get()
  return (metric?.values ?? []).reduce((sum, v) => sum + v.value, 0)
}

export interface Received {
  key: string
  value: string
  partition: number
  offset: string
}

/** A consumer (own group, from the beginning) that records every message; stopped at teardown. */
export function collect(t: Test, kafka: KafkaClient, topic: string, extra: Partial<ConsumerSettings> = {}): { consumer: KafkaConsumer; received: Received[]; groupId: string; waitForCount(n: number, timeoutMs?: number): Promise<void> } {
  const received: Received[] = []
  const groupId = randomName('test.group')
  const consumer = kafka.createConsumer({
    groupId,
    topics: [topic],
    fromBeginning: true,
    sessionTimeoutMs: 6_000,
    heartbeatIntervalMs: 1_000,
    handleBatch: async ({ batch }) => {
      for (const m of batch.messages) received.push({ key: String(m.key), value: String(m.value), partition: batch.partition, offset: m.offset })
    },
    ...extra,
  })
  t.teardown(() => consumer.stop())
  return {
    consumer,
    received,
    groupId,
    waitForCount: (n, timeoutMs = 30_000) => waitFor(() => received.length >= n, timeoutMs, `${n} messages (have ${received.length})`),
  }
}
