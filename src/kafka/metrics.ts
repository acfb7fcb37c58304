/**
 * The Kafka client's Prometheus metrics, all named `bridge_kafka_*`. Without a registry every
 * call is a no-op. Lag and assignment are gauges whose `collect()` reads what the consumers
 * cached from their own fetches, so a scrape costs no request to Kafka.
 */
import { Counter, Gauge, type Registry } from 'prom-client'

export interface PartitionLagSample {
  groupId: string
  topic: string
  partition: number
  lag: number
}

export interface MetricSources {
  connected(): boolean
  /** Last known lag of every partition a consumer of this client holds. */
  lag(): Iterable<PartitionLagSample>
  /** Partitions held, per consumer group. */
  assigned(): Iterable<{ groupId: string; count: number }>
}

export interface KafkaMetrics {
  produced(topic: string, messages: number): void
  batch(topic: string): void
  produceError(topic: string): void
  consumerCrash(groupId: string): void
}

const NONE: KafkaMetrics = { produced: () => undefined, batch: () => undefined, produceError: () => undefined, consumerCrash: () => undefined }

/** Register the metrics in `registry` (one Kafka client per registry). */
export function createKafkaMetrics(registry: Registry | undefined, sources: MetricSources): KafkaMetrics {
  if (!registry) return NONE
  const registers = [registry]
  const produced = new Counter({ name: 'bridge_kafka_produced_messages_total', help: 'Messages acknowledged by every in-sync replica.', labelNames: ['topic'], registers })
  const batches = new Counter({ name: 'bridge_kafka_produce_batches_total', help: 'Produce requests sent (one per batch of queued messages).', labelNames: ['topic'], registers })
  const errors = new Counter({ name: 'bridge_kafka_produce_errors_total', help: 'Produce batches that failed after the driver\'s retries.', labelNames: ['topic'], registers })
  const crashes = new Counter({ name: 'bridge_kafka_consumer_crashes_total', help: 'Consumer crashes (each is followed by a background restart).', labelNames: ['group'], registers })
  new Gauge({
    name: 'bridge_kafka_connected',
    help: '1 when the admin client and the producer are connected.',
    registers,
    collect() {
      this.set(sources.connected() ? 1 : 0)
    },
  })
  new Gauge({
    name: 'bridge_kafka_consumer_lag',
    help: 'Messages behind the high watermark, per partition, as of the consumer\'s last fetched batch.',
    labelNames: ['group', 'topic', 'partition'],
    registers,
    collect() {
      this.reset()
      for (const s of sources.lag()) this.set({ group: s.groupId, topic: s.topic, partition: String(s.partition) }, s.lag)
    },
  })
  new Gauge({
    name: 'bridge_kafka_consumer_assigned_partitions',
    help: 'Partitions assigned to this instance, per consumer group.',
    labelNames: ['group'],
    registers,
    collect() {
      this.reset()
      for (const a of sources.assigned()) this.set({ group: a.groupId }, a.count)
    },
  })
  return {
    produced: (topic, n) => produced.inc({ topic }, n),
    batch: (topic) => batches.inc({ topic }),
    produceError: (topic) => errors.inc({ topic }),
    consumerCrash: (groupId) => crashes.inc({ group: groupId }),
  }
}
