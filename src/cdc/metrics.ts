/**
 * The CDC subscriber's Prometheus metrics, named `bridge_cdc_*`, on the service's registry.
 * The streams gauge reads the engine's streams at scrape time. An engine built again on the
 * same registry (tests) replaces the metrics of the one before.
 */
import { Counter, Gauge, type Registry } from 'prom-client'

/** What became of a delivered event. */
export type EventOutcome = 'produced' | 'resync' | 'invalid' | 'duplicate' | 'dropped'

export interface CdcMetrics {
  event(outcome: EventOutcome, count?: number): void
  /** A client was rebuilt or re-handshook, by reason (auth, gone, busy, unknown-client, overflow, replay, replay-invalid). */
  reconnect(reason: string): void
  /** A resync was asked for, by reason (overflow, wildcard, replay-invalid, stall). */
  resync(reason: string): void
  /** A resync ended: completed, or failed (retried with backoff). */
  resyncEnded(outcome: 'completed' | 'failed'): void
  /** The stall check found changes the stream never delivered. */
  stall(): void
  /** A `/limits` probe while paused, by outcome (available, exhausted, error). */
  limitsProbe(outcome: 'available' | 'exhausted' | 'error'): void
}

const NAMES = ['bridge_cdc_events_total', 'bridge_cdc_reconnects_total', 'bridge_cdc_streams', 'bridge_cdc_resyncs_total', 'bridge_cdc_resyncs_ended_total', 'bridge_cdc_stalls_total', 'bridge_cdc_limits_probes_total']

export function createCdcMetrics(registry: Registry, streams: () => Iterable<{ state: string }>): CdcMetrics {
  for (const name of NAMES) registry.removeSingleMetric(name)
  const registers = [registry]
  const events = new Counter({ name: 'bridge_cdc_events_total', help: 'Change events delivered by Salesforce, by outcome (produced, resync, invalid, duplicate, dropped).', labelNames: ['outcome'], registers })
  const reconnects = new Counter({ name: 'bridge_cdc_reconnects_total', help: 'CometD clients rebuilt or re-handshaken, by reason.', labelNames: ['reason'], registers })
  const resyncs = new Counter({ name: 'bridge_cdc_resyncs_total', help: 'Resyncs asked for, by reason (overflow, wildcard, replay-invalid, stall).', labelNames: ['reason'], registers })
  const resyncsEnded = new Counter({ name: 'bridge_cdc_resyncs_ended_total', help: 'Resync attempts ended, by outcome (completed, failed: retried with backoff).', labelNames: ['outcome'], registers })
  const stalls = new Counter({ name: 'bridge_cdc_stalls_total', help: 'Stall checks that found changes in Salesforce the stream never delivered (each starts a resync of the window).', registers })
  const probes = new Counter({ name: 'bridge_cdc_limits_probes_total', help: 'Reads of /limits while paused on an allocation, by outcome (available, exhausted, error).', labelNames: ['outcome'], registers })
  new Gauge({
    name: 'bridge_cdc_streams',
    help: 'Merchant streams of this instance, by state (standby: another instance holds the lease).',
    labelNames: ['state'],
    registers,
    collect() {
      this.reset()
      const counts = new Map<string, number>()
      for (const s of streams()) counts.set(s.state, (counts.get(s.state) ?? 0) + 1)
      for (const [state, n] of counts) this.set({ state }, n)
    },
  })
  return {
    event: (outcome, count = 1) => events.inc({ outcome }, count),
    reconnect: (reason) => reconnects.inc({ reason }),
    resync: (reason) => resyncs.inc({ reason }),
    resyncEnded: (outcome) => resyncsEnded.inc({ outcome }),
    stall: () => stalls.inc(),
    limitsProbe: (outcome) => probes.inc({ outcome }),
  }
}
