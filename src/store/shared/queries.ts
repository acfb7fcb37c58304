/** Backend-neutral pieces of statements: job run patches, trace filters, error resolutions. */
import { AppError } from '../../errors.ts'
import type { ErrorResolution, JobRunPatch, PurgeCounts, PurgeOptions } from '../types/index.ts'

type ColumnType = 'json' | 'date' | 'value'

const JOB_RUN_COLUMNS: Record<keyof JobRunPatch, { column: string; type: ColumnType }> = {
  status: { column: 'status', type: 'value' },
  phase: { column: 'phase', type: 'value' },
  progress: { column: 'progress', type: 'json' },
  counts: { column: 'counts', type: 'json' },
  samples: { column: 'samples', type: 'json' },
  checkpoint: { column: 'checkpoint', type: 'json' },
  apiCalls: { column: 'api_calls', type: 'value' },
  error: { column: 'error', type: 'value' },
  startedAt: { column: 'started_at', type: 'date' },
  finishedAt: { column: 'finished_at', type: 'date' },
}

/**
 * The columns a patch sets, in a fixed order so equal key sets give equal SQL. Keys that
 * are present but undefined are skipped; null clears.
 */
export function jobRunAssignments(patch: JobRunPatch): Array<{ column: string; type: ColumnType; value: unknown }> {
  const out: Array<{ column: string; type: ColumnType; value: unknown }> = []
  for (const [key, spec] of Object.entries(JOB_RUN_COLUMNS) as Array<[keyof JobRunPatch, { column: string; type: ColumnType }]>) {
    if (patch[key] !== undefined) out.push({ ...spec, value: patch[key] })
  }
  return out
}

/** Defaults of claimJobRun. */
export const DEFAULT_RUN_OWNER = 'unowned'
export const DEFAULT_RUN_TTL_MS = 30_000

/** listTrace matches entries about any of the given keys; none given matches nothing. */
export function traceFilters(by: { userId?: string; recordId?: string; email?: string }): Array<{ column: string; value: string }> {
  const out: Array<{ column: string; value: string }> = []
  if (by.userId !== undefined) out.push({ column: 'user_id', value: by.userId })
  if (by.recordId !== undefined) out.push({ column: 'record_id', value: by.recordId })
  if (by.email !== undefined) out.push({ column: 'email', value: by.email })
  return out
}

/** A resolution as a row of parameters; one with neither record nor user would match too much. */
export function resolutionRow(r: ErrorResolution): { direction: string; record_id: string | null; user_id: string | null; code: string | null } {
  const recordId = r.recordId ?? null
  const userId = r.userId ?? null
  if (recordId === null && userId === null) {
    throw new AppError('internal', 'An error resolution needs a recordId or a userId')
  }
  return { direction: r.direction, record_id: recordId, user_id: userId, code: r.code ?? null }
}

/** Where a list of errors in one state starts (`state` of listErrors). */
export function errorStateFilter(state: 'open' | 'resolved' | 'all' | undefined): string {
  if (state === 'all') return ''
  if (state === 'resolved') return 'AND resolved_at IS NOT NULL'
  return 'AND resolved_at IS NULL'
}

/** Rows one purge statement deletes at most, so no single statement holds locks for long. */
export const PURGE_CHUNK = 5000

/** Per kind of row, the date before which `purge` deletes it (undefined: keep all). */
export function purgeDates(options: PurgeOptions): Record<keyof PurgeCounts, Date | undefined> {
  return {
    traces: options.tracesBefore,
    resolvedErrors: options.resolvedErrorsBefore,
    webhookIds: options.webhookIdsExpiredBefore,
    oauthStates: options.oauthStatesExpiredBefore,
    runs: options.runsBefore,
    audit: options.auditBefore,
  }
}

export const emptyPurgeCounts = (): PurgeCounts => ({ traces: 0, resolvedErrors: 0, webhookIds: 0, oauthStates: 0, runs: 0, audit: 0 })
