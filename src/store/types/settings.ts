/** A merchant's settings, and the change feed other instances poll. */

/** A merchant's import and export settings, as the settings API validated them. */
export interface MerchantSettings {
  merchantId: string
  import: Record<string, unknown>
  export: Record<string, unknown>
  /** Grows by one on every save; saves with a stale version are refused. */
  version: number
  /**
   * Global across merchants and strictly increasing: every save takes the next number, so a
   * poller that remembers the last one it saw misses no save (see listSettingsChanges).
   */
  changeSeq: number
  updatedAt: Date
}

/** One entry of the settings change feed: the merchant's latest save. */
export interface SettingsChange {
  merchantId: string
  version: number
  changeSeq: number
}

export interface SettingsStore {
  getSettings(merchantId: string): Promise<MerchantSettings | null>
  /** Save; when `expectedVersion` is given and differs, throws `store.conflict`. */
  saveSettings(merchantId: string, settings: { import: Record<string, unknown>; export: Record<string, unknown> }, expectedVersion?: number): Promise<MerchantSettings>
  /**
   * Merchants whose settings were saved after `afterSeq`, ordered by changeSeq, at most
   * `limit` (1..1000, default 500). A merchant saved twice since shows once, with its latest
   * save. Saves become visible in changeSeq order, so `afterSeq` never skips one.
   */
  listSettingsChanges(afterSeq: number, limit?: number): Promise<SettingsChange[]>
  /** The highest changeSeq so far (0 before any save): where a new poller starts. */
  latestSettingsChangeSeq(): Promise<number>
  /**
   * Forget what belongs to one Salesforce org (a different org was connected): links, field
   * states, export versions, replay checkpoints and requests, traces, errors, the export
   * pause, the sync health and lastExportAt. Settings, audit, runs and parked export changes (Cohort's, not
   * the org's) stay.
   */
  clearMerchantSyncState(merchantId: string): Promise<void>
}
