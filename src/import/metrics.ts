/** The importer's Prometheus metrics, `bridge_import_*`. Without a registry they are no-ops. */
import { Counter, Histogram, type Registry } from 'prom-client'
import type { ApplyOutcome } from './apply.ts'

export interface ImportMetrics {
  record(outcome: ApplyOutcome): void
  skipped(reason: string, count: number): void
  deadLetters(count: number): void
}

export function createImportMetrics(registry: Registry | undefined): ImportMetrics {
  if (!registry) return { record: () => undefined, skipped: () => undefined, deadLetters: () => undefined }
  const registers = [registry]
  const records = new Counter({ name: 'bridge_import_records_total', help: 'Records applied to Cohort by the importer, by outcome.', labelNames: ['outcome'], registers })
  const skipped = new Counter({ name: 'bridge_import_skipped_total', help: 'Changes not imported, by reason (missing-email, invalid-email, no-cohort-user, import-off, not-connected, other-object).', labelNames: ['reason'], registers })
  const echoes = new Counter({ name: 'bridge_import_echoes_total', help: 'Fields not imported because they were the bridge\'s own export coming back.', registers })
  const errors = new Counter({ name: 'bridge_import_errors_total', help: 'Per-record import errors recorded.', registers })
  const dead = new Counter({ name: 'bridge_import_dead_letters_total', help: 'salesforce.changes messages sent to the DLQ (not parseable).', registers })
  const latency = new Histogram({ name: 'bridge_import_latency_seconds', help: 'From CometD delivery to Cohort acknowledgement (bridge-added latency).', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers })
  return {
    record(outcome) {
      records.inc({ outcome: 'created' }, outcome.created)
      records.inc({ outcome: 'updated' }, outcome.updated)
      records.inc({ outcome: 'unlinked' }, outcome.unlinked)
      echoes.inc(outcome.echoes)
      errors.inc(outcome.errors)
      for (const [reason, count] of Object.entries(outcome.skipped)) skipped.inc({ reason }, count)
      const now = Date.now()
      for (const m of outcome.applied) if (m.source === 'cdc') latency.observe((now - m.receivedAt) / 1000)
    },
    skipped: (reason, count) => skipped.inc({ reason }, count),
    deadLetters: (count) => dead.inc(count),
  }
}
