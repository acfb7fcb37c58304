/** Retention (contracts §8 RETENTION_DAYS): the caller computes the dates, the store deletes. */

/** Delete what is older than each date given; a kind left out is kept. */
export interface PurgeOptions {
  /** Traces with `at` before this. */
  tracesBefore?: Date
  /** Resolved errors resolved before this (open errors are never purged). */
  resolvedErrorsBefore?: Date
  /** Webhook ids that expired before this. */
  webhookIdsExpiredBefore?: Date
  /** OAuth states that expired before this. */
  oauthStatesExpiredBefore?: Date
  /** Finished (completed or failed) runs that finished before this; live runs stay. */
  runsBefore?: Date
  /** Audit entries with `at` before this. */
  auditBefore?: Date
}

/** Rows deleted per kind. */
export interface PurgeCounts {
  traces: number
  resolvedErrors: number
  webhookIds: number
  oauthStates: number
  runs: number
  audit: number
}

export interface HousekeepingStore {
  /** Delete old rows in bounded chunks (no long lock); returns the counts. */
  purge(options: PurgeOptions): Promise<PurgeCounts>
}
