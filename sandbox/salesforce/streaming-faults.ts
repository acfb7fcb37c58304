/**
 * Streaming faults of the admin API. They act at once (none waits in the fault book):
 * - `cometd-drop-sessions`: every CometD session (of `org`) is forgotten; a held connect is
 *   answered, and the next request gets, `403::Unknown client` with advice handshake.
 * - `cometd-shrink-retention`: the replay window becomes `retainEvents` events per channel
 *   (default 0) and `retainMs` ms (default unchanged) until reset; older events are evicted
 *   now, so their replay ids get the replayId error.
 * - `cometd-exhaust-delivery`: the daily delivery allocation (of `org`) is used up; connects
 *   get `403::Organization total events daily limit exceeded`.
 * - `cometd-client-limit`: the next `count` handshakes (of `org`) get
 *   `403::Organization concurrent user limit exceeded`.
 */
import type { Streaming } from './cometd.ts'
import type { EventBus } from './event-bus.ts'

export const STREAMING_FAULT_KINDS = ['cometd-drop-sessions', 'cometd-shrink-retention', 'cometd-exhaust-delivery', 'cometd-client-limit'] as const

export type StreamingFaultKind = (typeof STREAMING_FAULT_KINDS)[number]

export interface StreamingFault {
  kind: StreamingFaultKind
  count: number
  /** Org id, when the fault names one. */
  orgId?: string
  retainEvents?: number
  retainMs?: number
}

export function isStreamingFault(kind: string): kind is StreamingFaultKind {
  return (STREAMING_FAULT_KINDS as readonly string[]).includes(kind)
}

export function applyStreamingFault(fault: StreamingFault, deps: { streaming: Streaming; bus: EventBus }): { affected: number } {
  switch (fault.kind) {
    case 'cometd-drop-sessions':
      return { affected: deps.streaming.dropSessions(fault.orgId) }
    case 'cometd-shrink-retention':
      deps.bus.setRetention({ maxEvents: fault.retainEvents ?? 0, maxAgeMs: fault.retainMs ?? deps.bus.retention.maxAgeMs })
      return { affected: 0 }
    case 'cometd-exhaust-delivery':
      deps.streaming.exhaustDelivery(fault.orgId)
      return { affected: 0 }
    case 'cometd-client-limit':
      deps.streaming.refuseHandshakes(fault.count, fault.orgId)
      return { affected: fault.count }
  }
}
