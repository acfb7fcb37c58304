/** Job runs (reconcile, backfill): one live run per merchant and kind, owned and heartbeated. */
import type { Page, PageOptions } from './base.ts'

export type JobStatus = 'queued' | 'running' | 'completed' | 'failed'

/** One run of a job (a reconcile, a backfill), with its resumable checkpoint. */
export interface JobRun {
  id: string
  merchantId: string
  kind: string
  status: JobStatus
  dryRun: boolean
  phase: string | null
  progress: unknown
  counts: unknown
  samples: unknown
  checkpoint: unknown
  apiCalls: number
  error: string | null
  /** The instance working on it; a claim takes it over once its heartbeat is stale. */
  owner: string | null
  /** Last sign of life from the owner, by the database's clock. */
  heartbeatAt: Date | null
  createdAt: Date
  startedAt: Date | null
  finishedAt: Date | null
  updatedAt: Date
}

export type JobRunPatch = Partial<Pick<JobRun, 'status' | 'phase' | 'progress' | 'counts' | 'samples' | 'checkpoint' | 'apiCalls' | 'error' | 'startedAt' | 'finishedAt'>>

export type ClaimResult =
  | { claimed: true; run: JobRun; /** The run existed and its stale owner lost it to this claim. */ takenOver: boolean }
  | { claimed: false; running: JobRun }

export interface ClaimOptions {
  dryRun: boolean
  /** Who claims (an instance id). Default `unowned`. */
  owner?: string
  /**
   * A live run whose heartbeat is older than this, by the database's clock, is taken over.
   * Default 30000 (LEASE_TTL_MS).
   */
  ttlMs?: number
}

export interface ListJobRunsOptions extends PageOptions {
  kind?: string
}

export interface RunStore {
  /**
   * Create a run unless one of that kind is queued or running for the merchant with a fresh
   * heartbeat. A live run with a stale heartbeat is taken over instead: same run and
   * checkpoint, new owner, fresh heartbeat, `takenOver: true`; its dryRun stays as it was.
   */
  claimJobRun(merchantId: string, kind: string, options: ClaimOptions): Promise<ClaimResult>
  /** Renew the owner's heartbeat; false when the run is finished or another owner took it. */
  heartbeatJobRun(id: string, owner: string): Promise<boolean>
  /**
   * Apply a patch. With `owner`, the run must still be that owner's, else `store.fenced` and
   * nothing changes. Unknown id: `not-found`.
   */
  updateJobRun(id: string, patch: JobRunPatch, options?: { owner?: string }): Promise<JobRun>
  getJobRun(merchantId: string, id: string): Promise<JobRun | null>
  getLatestJobRun(merchantId: string, kind: string): Promise<JobRun | null>
  /** The merchant's runs newest first, of one kind when given. */
  listJobRuns(merchantId: string, options?: ListJobRunsOptions): Promise<Page<JobRun>>
}
