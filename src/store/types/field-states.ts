/** Last-synced values per record and field: per-field idempotence and "newer change wins". */
import type { KeysetOptions, KeysetPage, SyncDirection, WalkOptions } from './base.ts'

/**
 * The last value synced for one field of one record, with the time of the change that set
 * it: the basis of per-field idempotence and of "newer change wins" for two-way fields.
 */
export interface FieldState {
  merchantId: string
  recordId: string
  field: string
  /** JSON-serialisable value; null means cleared. */
  value: unknown
  /** Salesforce commit timestamp / SystemModstamp, or the Cohort event's occurredAt. */
  changedAt: Date
  /** Tie-breaker within one changedAt: CDC sequence number or Cohort event version. */
  sequence: number
  direction: SyncDirection
}

/** The key of one field state, as page cursors and batch results give it. */
export interface FieldStateKey {
  recordId: string
  field: string
}

export interface FieldStateStore {
  getFieldStates(merchantId: string, recordId: string): Promise<FieldState[]>
  /** Field states of any of the records, ordered by record id, then field. */
  getFieldStatesOf(merchantId: string, recordIds: string[]): Promise<FieldState[]>
  /** Upsert each field only when the incoming (changedAt, sequence) is newer; returns the fields written. */
  saveFieldStates(states: FieldState[]): Promise<string[]>
  /** One keyset page of the merchant's field states, ordered by (record id, field), bytewise. */
  listFieldStatesPage(merchantId: string, options?: KeysetOptions<FieldStateKey>): Promise<KeysetPage<FieldState, FieldStateKey>>
  /** Every field state of the merchant in key order, as pages, like walkLinks. */
  walkFieldStates(merchantId: string, options?: WalkOptions<FieldStateKey>): AsyncGenerator<FieldState[]>
}
