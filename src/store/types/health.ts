/**
 * Sync health that the engines report and the status route reads, kept in the store so
 * any instance answers the same (the instance streaming a merchant may be another one).
 */
import type { LeaseFence } from './leases.ts'

/** `health.cdc` of contracts §8. */
export type CdcState = 'stopped' | 'starting' | 'streaming' | 'resyncing' | 'paused' | 'failed'

/** `health.cdcError`: what went wrong and the one sentence telling the Salesforce administrator what to do. */
export interface CdcError {
  code: string
  message: string
  action: string
}

export interface SyncHealth {
  merchantId: string
  cdc: CdcState
  cdcError: CdcError | null
  /** When `cdc` last changed; null when never reported. */
  cdcSince: Date | null
  /** Newest time a change event of the merchant was received (for stall checks); null when none. */
  lastEventAt: Date | null
  /** Newest time an import batch applied something for the merchant; null when never. */
  lastImportAt: Date | null
}

export interface HealthStore {
  /**
   * Record the merchant's CDC state and error. Returns true when the state or the error code
   * changed (the caller then publishes a status message), false when it was already so. With
   * `lease`, refused with `store.fenced` unless that lease is current (a stale streamer must
   * not overwrite the live one's state).
   */
  setCdcHealth(merchantId: string, health: { state: CdcState; error: CdcError | null }, options?: { lease?: LeaseFence }): Promise<boolean>
  /** Move `lastEventAt` forward to `at` (never backwards). */
  noteCdcEvent(merchantId: string, at: Date): Promise<void>
  /** The merchant's health; `stopped`, nulls when nothing was ever reported. */
  getSyncHealth(merchantId: string): Promise<SyncHealth>
}
