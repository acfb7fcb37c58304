/** Per-record errors: Salesforce or Cohort refused one record; someone can see and retry it. */
import type { Page, PageOptions, SyncDirection } from './base.ts'

/** A per-record error. Open until resolved (the record synced later) or deleted. */
export interface RecordError {
  id: string
  merchantId: string
  direction: SyncDirection
  recordId: string | null
  userId: string | null
  email: string | null
  code: string
  message: string
  /** What is needed to retry the change (no secrets). */
  payload: unknown
  attempts: number
  firstAt: Date
  at: Date
  /** When a later sync of the record succeeded; null while open. Purged after RETENTION_DAYS. */
  resolvedAt: Date | null
}

export interface NewRecordError {
  merchantId: string
  direction: SyncDirection
  recordId?: string | null
  userId?: string | null
  email?: string | null
  code: string
  message: string
  payload?: unknown
}

/**
 * Which open errors a success resolves: those of the merchant in `direction` about
 * `recordId` and/or `userId` (each one given must match), of any code unless `code` is given.
 * At least one of recordId and userId is needed.
 */
export interface ErrorResolution {
  direction: SyncDirection
  recordId?: string | null
  userId?: string | null
  code?: string
}

export interface ListErrorsOptions extends PageOptions {
  /** Which errors: `open` (default), `resolved` or `all`. */
  state?: 'open' | 'resolved' | 'all'
}

export interface ErrorStore {
  /**
   * Record a refusal; while an open error of the same merchant/direction/record/user/code
   * exists, that one's `attempts` grows instead. A resolved one stays as history.
   */
  recordError(error: NewRecordError): Promise<RecordError>
  /** Newest first; open errors unless `state` says otherwise. */
  listErrors(merchantId: string, options?: ListErrorsOptions): Promise<Page<RecordError>>
  getError(merchantId: string, id: string): Promise<RecordError | null>
  /** Delete outright (open or resolved); true when it existed. */
  deleteError(merchantId: string, id: string): Promise<boolean>
  /** Mark the matching open errors resolved; returns how many. */
  resolveErrors(merchantId: string, resolutions: ErrorResolution[]): Promise<number>
  /** Open errors of the merchant. */
  countErrors(merchantId: string): Promise<number>
  /** Open errors of the merchant per code (`health.errorsByCode`). */
  countErrorsByCode(merchantId: string): Promise<Record<string, number>>
}
