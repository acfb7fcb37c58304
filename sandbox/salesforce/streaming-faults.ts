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
 * - `cometd-server-disconnect`: the server ends every session (of `org`) with its own
 *   `/meta/disconnect` message and a connect reply advising `advice` (`none`: the client must
 *   start over itself; `handshake`: it may re-handshake at once), as Salesforce does from API
 *   64.0; a held connect is answered now, other sessions learn it on their next request.
 * - `cometd-drop-connection`: the TCP socket of every held connect (of `org`) is destroyed
 *   without an answer (sessions not holding one lose their next connect that way); the
 *   sessions live on and no event is lost.
 * `POST /__sandbox/streaming/restore` ends the delivery, client-limit and retention faults.
 */
import type { FarewellAdvice, Streaming } from './cometd.ts'
import type { EventBus } from './event-bus.ts'

export const STREAMING_FAULT_KINDS = [
  'cometd-drop-sessions', 'cometd-shrink-retention', 'cometd-exhaust-delivery', 'cometd-client-limit', 'cometd-server-disconnect', 'cometd-drop-connection',
] as const

export type StreamingFaultKind = (typeof STREAMING_FAULT_KINDS)[number]

export interface StreamingFault {
  kind: StreamingFaultKind
  count: number
  /** Org id, when the fault names one. */
  orgId?: string
  retainEvents?: number
  retainMs?: number
  advice?: FarewellAdvice
}

export function isStreamingFault(kind: string): kind is StreamingFaultKind {
  return (STREAMING_FAULT_KINDS as readonly string[]).includes(kind)
}

/** End the delivery-allocation, client-limit and retention faults (records and event logs stay). */
export function restoreStreaming(deps: { streaming: Streaming; bus: EventBus }): void {
  deps.streaming.restore()
  deps.bus.restoreRetention()
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
    case 'cometd-server-disconnect':
      return { affected: deps.streaming.serverDisconnect(fault.advice ?? 'none', fault.orgId) }
    case 'cometd-drop-connection':
      return { affected: deps.streaming.dropConnections(fault.orgId) }
  }
}
