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
}

const NAMES = ['bridge_cdc_events_total', 'bridge_cdc_reconnects_total', 'bridge_cdc_streams']

export function createCdcMetrics(registry: Registry, streams: () => Iterable<{ state: string }>): CdcMetrics {
  for (const name of NAMES) registry.removeSingleMetric(name)
  const registers = [registry]
  const events = new Counter({ name: 'bridge_cdc_events_total', help: 'Change events delivered by Salesforce, by outcome (produced, resync, invalid, duplicate, dropped).', labelNames: ['outcome'], registers })
  const reconnects = new Counter({ name: 'bridge_cdc_reconnects_total', help: 'CometD clients rebuilt or re-handshaken, by reason.', labelNames: ['reason'], registers })
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
  }
}
