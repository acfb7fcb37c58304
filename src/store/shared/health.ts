/** Sync health both backends share: the defaults and what counts as a change of CDC health. */
import type { CdcError, CdcState, SyncHealth } from '../types/index.ts'

/** What getSyncHealth answers for a merchant nothing was ever reported for. */
export function noSyncHealth(merchantId: string): SyncHealth {
  return { merchantId, cdc: 'stopped', cdcError: null, cdcSince: null, lastEventAt: null, lastImportAt: null }
}

/**
 * True when `next` differs from `stored` in the state or the error code (none vs one, or
 * another one). A new message or action alone is no change.
 */
export function cdcHealthChanged(stored: SyncHealth, next: { state: CdcState; error: CdcError | null }): boolean {
  return stored.cdc !== next.state || (stored.cdcError?.code ?? null) !== (next.error?.code ?? null)
}

/** The error as its JSON column holds it (exactly its three fields), or null. */
export function cdcErrorJson(error: CdcError | null): string | null {
  return error === null ? null : JSON.stringify({ code: error.code, message: error.message, action: error.action })
}
