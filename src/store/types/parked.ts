/**
 * Export changes parked while a merchant's export is paused (an API allocation spent, say),
 * coalesced per user, and the per-merchant pause every instance sees.
 */

/** One property's parked value with the Cohort version that set it. */
export interface ParkedProperty {
  value: unknown
  version: number
}

/** Changes to park for one key (the Cohort user id). */
export interface ParkChange {
  key: string
  properties: Record<string, ParkedProperty>
}

/** A parked entry as peeked: `seq` changes whenever the entry is parked again. */
/** A parked entry as peeked: acknowledged only while its `seq` is unchanged. */
export interface ParkedAck {
  key: string
  seq: number
}

export interface ParkedChange {
  key: string
  /** Identifies this state of the entry; ack with it. */
  seq: number
  /** Its place in park order (kept when the key is parked again). */
  position: number
  properties: Record<string, ParkedProperty>
  /** When the key was first parked (its place in the queue). */
  parkedAt: Date
  updatedAt: Date
}

export interface ExportPause {
  reason: string
  /** Resume at; null means until cleared. */
  until: Date | null
  since: Date
}

export interface ParkedStore {
  /**
   * Park changes, coalesced per key: properties merge, per property the higher version wins
   * (an equal one keeps the parked value); a key keeps its first-parked place in the queue.
   * Returns how many entries were created or changed.
   */
  parkExportChanges(merchantId: string, changes: ParkChange[]): Promise<number>
  /**
   * Up to `limit` (1..10000) entries in park order, left in place; with `after`, only those
   * placed after that `position` (the next page while the previous one is still being written).
   */
  peekParkedChanges(merchantId: string, limit: number, after?: number): Promise<ParkedChange[]>
  /**
   * Delete entries once applied: each only if its `seq` is still the one peeked, so a key
   * parked again meanwhile stays (with everything merged). Returns how many were deleted.
   */
  ackParkedChanges(merchantId: string, acks: ParkedAck[]): Promise<number>
  countParkedChanges(merchantId: string): Promise<number>
  /** Pause the merchant's export on every instance (replaces an earlier pause). */
  setExportPause(merchantId: string, pause: { reason: string; until: Date | null }): Promise<void>
  /** The current pause, or null when none or its `until` has passed (database's clock). */
  getExportPause(merchantId: string): Promise<ExportPause | null>
  clearExportPause(merchantId: string): Promise<void>
}
