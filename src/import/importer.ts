/**
 * The importer: consumer group `{prefix}.import` on `salesforce.changes`. A Kafka batch (one
 * partition) is split per merchant and each share applied in one go (apply.ts); the batch's
 * offsets are resolved only after every share is in Cohort and in the store, and committed in
 * the background at most once a second (`commitIntervalMs`). A message that
 * does not parse goes to the DLQ and the partition moves on. A merchant whose share fails for
 * good (settings that no longer parse, Cohort refusing the service token) gets a per-record
 * error for each of its records, visible and retryable, instead of a stalled partition;
 * outages (Cohort, Salesforce, the store) throw, and the batch is delivered again.
 */
import { setImmediate as nextTurn } from 'node:timers/promises'
import { createComponent, type Component } from '../component.ts'
import { parseChangeMessage, type ChangeMessage } from '../changes/index.ts'
import { AppError, isRetriable } from '../errors.ts'
import { splitByMerchant, type BatchPayload, type KafkaConsumer } from '../kafka/index.ts'
import type { Services } from '../services.ts'
import { applyMerchantChanges, type ApplyOutcome } from './apply.ts'
import { createImportMetrics } from './metrics.ts'
import { createUserDirectory, type UserDirectory } from './resolve.ts'

export interface ImporterOptions {
  /** Partitions handled at once. Default KAFKA_PARTITIONS (a merchant's shares of one fetch then go together). */
  partitionsConsumedConcurrently?: number
  /**
   * Offsets are committed at most this often (and on stop, rebalance, a throw) rather than
   * after every batch: the broker round trip is off the fetch loop, and a crash only delivers
   * again what the last second applied, which applies nothing twice (reduce.ts). Default 1000 ms.
   */
  commitIntervalMs?: number
  /** Called after each merchant share is applied (tests, benchmarks). */
  onApplied?: (merchantId: string, outcome: ApplyOutcome) => void
}

export function createImporter(services: Services, options: ImporterOptions = {}): Component {
  const { config, store, kafka, settings } = services
  const logger = services.logger.child({ component: 'importer' })
  const metrics = createImportMetrics(services.metrics)
  const users: UserDirectory = createUserDirectory(services.cohort)
  const deps = { config, store, cohort: services.cohort, connections: services.connections, users, logger }
  const topic = config.kafka.topics.salesforceChanges
  let consumer: KafkaConsumer | undefined

  async function handleBatch(payload: BatchPayload, { signal }: { signal: AbortSignal }): Promise<void> {
    const { batch } = payload
    const { byMerchant, dead } = splitByMerchant(batch, (value) => {
      const parsed = parseChangeMessage(value)
      return parsed.ok ? { ok: true, value: parsed.message } : parsed
    }, 'import.invalid-message')
    if (dead.length > 0) {
      await kafka.produce(config.kafka.topics.dlq, dead)
      metrics.deadLetters(dead.length)
      logger.warn({ topic: batch.topic, partition: batch.partition, count: dead.length }, 'unparseable salesforce.changes messages sent to the dead-letter topic')
    }
    await Promise.all([...byMerchant].map(([merchantId, messages]) => handleMerchant(merchantId, messages, signal)))
  }

  // One share per merchant at a time in this process: two partitions may carry records with
  // the same email, and the duplicate-email rule needs one to see the other's link. Shares
  // that arrive meanwhile (other partitions of the same fetch, or of the next while one is
  // applied) wait and then go together as one share: one round of reads, one Cohort batch,
  // one transaction for all of them. Each record lives in one partition, so its order is kept.
  const lanes = new Map<string, Array<{ messages: ChangeMessage[]; resolve: () => void; reject: (err: unknown) => void }>>()
  function handleMerchant(merchantId: string, messages: ChangeMessage[], signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const waiting = lanes.get(merchantId)
      if (waiting) {
        waiting.push({ messages, resolve, reject })
        return
      }
      const lane = [{ messages, resolve, reject }]
      lanes.set(merchantId, lane)
      void (async () => {
        // kafkajs hands the partitions of one fetch to its workers in one turn: waiting for
        // the next lets them all join this share (one Cohort batch, one transaction).
        await nextTurn()
        while (lane.length > 0) {
          const group = lane.splice(0)
          try {
            await applyShare(merchantId, group.flatMap((g) => g.messages), signal)
            for (const g of group) g.resolve()
          } catch (err) {
            for (const g of group) g.reject(err)
          }
        }
        lanes.delete(merchantId)
      })()
    })
  }

  async function applyShare(merchantId: string, messages: ChangeMessage[], signal: AbortSignal): Promise<void> {
    try {
      const [current, connection] = await Promise.all([settings.get(merchantId), store.getConnection(merchantId)])
      if (!current.import.enabled || !current.import.object || !current.import.emailField) {
        metrics.skipped('import-off', messages.length)
        return
      }
      if (!connection || connection.state === 'disconnected' || connection.refreshTokenEnc === null) {
        metrics.skipped('not-connected', messages.length)
        return
      }
      // Changes of another org (this merchant connected a different one since) are not its data.
      const ofOrg = messages.filter((m) => m.orgId === connection.orgId)
      if (ofOrg.length < messages.length) metrics.skipped('other-org', messages.length - ofOrg.length)
      if (ofOrg.length === 0) return
      const outcome = await applyMerchantChanges(deps, current, ofOrg, { signal })
      metrics.record(outcome)
      options.onApplied?.(merchantId, outcome)
    } catch (err) {
      // Cohort refusing the service token is the service's fault, not the merchant's data:
      // redelivered until fixed (every merchant waits, as they must).
      if (signal.aborted || isRetriable(err) || (err instanceof AppError && err.code === 'cohort.unauthorized')) throw err
      // A permanent failure of this merchant's share must not stall the partition for others.
      const code = err instanceof AppError ? err.code : 'internal'
      const reason = (err as Error).message
      logger.error({ merchantId, code, reason }, 'import of a merchant share failed for good: recorded as per-record errors')
      const seen = new Set<string>()
      for (const m of messages) {
        if (seen.has(m.recordId)) continue
        seen.add(m.recordId)
        await store.recordError({ merchantId, direction: 'import', recordId: m.recordId, code, message: reason, payload: { object: m.object, recordId: m.recordId } })
      }
    }
  }

  const lifecycle = createComponent('importer', {
    async start() {
      consumer = kafka.createConsumer({
        groupId: `${config.kafka.groupPrefix}.import`,
        topics: [topic],
        fromBeginning: true,
        partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? config.kafka.partitions,
        commitIntervalMs: options.commitIntervalMs ?? 1000,
        handleBatch,
      })
      await consumer.start()
    },
    async stop() {
      await consumer?.stop()
    },
  })
  return lifecycle
}
