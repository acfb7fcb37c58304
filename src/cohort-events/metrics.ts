/** The exporter's Prometheus metrics, `bridge_export_*`. Without a registry they are no-ops. */
import { Counter, Gauge, type Registry } from 'prom-client'
import type { ExportOutcome } from './export.ts'

export interface ExportMetrics {
  record(outcome: ExportOutcome): void
  skipped(reason: string, count: number): void
  deadLetters(count: number): void
  parked(count: number): void
  paused(reason: string): void
  /** Users handed to the parked changes because the lane's writes lagged far behind. */
  spilled(count: number): void
  /** Pending changes of this instance, over its lanes. */
  pending(count: number): void
}

export function createExportMetrics(registry: Registry | undefined): ExportMetrics {
  if (!registry) return { record: () => undefined, skipped: () => undefined, deadLetters: () => undefined, parked: () => undefined, paused: () => undefined, spilled: () => undefined, pending: () => undefined }
  const registers = [registry]
  const records = new Counter({ name: 'bridge_export_records_total', help: 'Salesforce records written by the exporter, by outcome (updated, created, unchanged, error).', labelNames: ['outcome'], registers })
  const skipped = new Counter({ name: 'bridge_export_skipped_total', help: 'Changes not exported, by reason (not-connected, export-off, unmapped, from-salesforce, no-salesforce-record, missing-email).', labelNames: ['reason'], registers })
  const calls = new Counter({ name: 'bridge_export_collection_calls_total', help: 'sObject Collections calls sent by the exporter (retries included).', registers })
  const dead = new Counter({ name: 'bridge_export_dead_letters_total', help: 'cohort.user-events messages sent to the DLQ (not JSON, or breaking the schema).', registers })
  const parked = new Counter({ name: 'bridge_export_parked_total', help: 'User changes parked while a merchant\'s export was paused.', registers })
  const pauses = new Counter({ name: 'bridge_export_pauses_total', help: 'Merchant export pauses, by reason.', labelNames: ['reason'], registers })
  const spilled = new Counter({ name: 'bridge_export_spilled_total', help: 'User changes handed to the parked changes because a merchant\'s writes lagged far behind (drained 200 at a time).', registers })
  const pending = new Gauge({ name: 'bridge_export_pending', help: 'User changes this instance holds in memory, not yet written.', registers })
  return {
    record(outcome) {
      records.inc({ outcome: 'updated' }, outcome.updated)
      records.inc({ outcome: 'created' }, outcome.created)
      records.inc({ outcome: 'unchanged' }, outcome.unchanged)
      records.inc({ outcome: 'error' }, outcome.errors)
      calls.inc(outcome.calls)
      for (const [reason, count] of Object.entries(outcome.skipped)) skipped.inc({ reason }, count)
    },
    skipped: (reason, count) => skipped.inc({ reason }, count),
    deadLetters: (count) => dead.inc(count),
    parked: (count) => parked.inc(count),
    paused: (reason) => pauses.inc({ reason }),
    spilled: (count) => spilled.inc(count),
    pending: (count) => pending.set(count),
  }
}
