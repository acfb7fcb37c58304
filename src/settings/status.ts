/**
 * `GET /v1/merchants/:merchantId/salesforce`: the connection, the settings and a health
 * summary in the shape of contracts §2 and §8, read from the store so that every instance
 * answers the same: the CDC state and error and `lastImportAt` as the subscriber and the
 * importer record them, the replay checkpoint, the first full load (the newest run of kind
 * `import-load`, src/import/load.ts), open errors and their codes, parked export changes, the
 * export pause, the last reconcile, and what the exporter reports: `lastExportAt` (written
 * with each export batch), the pending export changes of every live instance, and the API
 * budget (the bridge's own calls of the org in the last 24 hours against
 * `apiBudgetPercent` × the org's `DailyApiRequests.Max` as Salesforce last reported it). The
 * budget comes from this instance's live counter where it has one (the store plus the calls
 * and the `Sforce-Limit-Info` not flushed yet, so a call shows at once rather than up to a
 * flush period later), from the store alone otherwise.
 */
import type { Config } from '../config.ts'
import { budgetWindowStart, cdcChannelOf, type ApiBudget } from '../salesforce/index.ts'
import type { JobRun, Store } from '../store/index.ts'
import type { SettingsService } from './service.ts'

export type ConnectionStateView = 'not-connected' | 'connected' | 'needs-reauth'

export interface StatusDeps {
  store: Store
  settings: SettingsService
  /** For the default API budget share (SALESFORCE_API_BUDGET_PERCENT). */
  config?: Pick<Config, 'salesforce'>
  /** This instance's API call counter (services.budget); without it, the store's figures alone. */
  budget?: Pick<ApiBudget, 'usage'>
}

/** An instance that has not reported its pending export changes for this long is left out. */
const PENDING_FRESH_MS = 30_000

/** The run kind of the first full load (LOAD_KIND of src/import, which depends on settings). */
const LOAD_KIND = 'import-load'
/** The run kind of the export backfill (BACKFILL_KIND of src/cohort-events, which depends on settings). */
const BACKFILL_KIND = 'export-backfill'

/** `health.exportBackfill`: the newest export backfill run (src/cohort-events/backfill.ts). */
function backfillView(run: JobRun | null) {
  if (!run) return { state: 'idle' as const, runId: null, reason: null, processed: 0, counts: { byAction: {}, byReason: {} }, error: null, startedAt: null, finishedAt: null }
  const progress = (run.progress ?? {}) as { processed?: number; reason?: string }
  const counts = (run.counts ?? {}) as { byAction?: Record<string, number>; byReason?: Record<string, number> }
  return {
    state: run.status,
    runId: run.id,
    reason: progress.reason ?? null,
    processed: progress.processed ?? 0,
    counts: { byAction: counts.byAction ?? {}, byReason: counts.byReason ?? {} },
    error: run.error,
    startedAt: run.startedAt?.toISOString() ?? null,
    finishedAt: run.finishedAt?.toISOString() ?? null,
  }
}

function loadView(run: JobRun | null): { state: 'idle' | 'running' | 'completed' | 'failed'; processed: number; total: number | null } {
  if (!run) return { state: 'idle', processed: 0, total: null }
  const progress = (run.progress ?? {}) as { processed?: number; total?: number | null }
  return { state: run.status === 'queued' ? 'running' : run.status, processed: progress.processed ?? 0, total: progress.total ?? null }
}

export async function buildStatus(deps: StatusDeps, merchantId: string) {
  const { store } = deps
  const [connection, settings, errors, errorsByCode, lastReconcile, parked, pause, sync, load, backfill, lastExportAt, pending] = await Promise.all([
    store.getConnection(merchantId),
    deps.settings.get(merchantId),
    store.countErrors(merchantId),
    store.countErrorsByCode(merchantId),
    store.getLatestJobRun(merchantId, 'reconcile'),
    store.countParkedChanges(merchantId),
    store.getExportPause(merchantId),
    store.getSyncHealth(merchantId),
    store.getLatestJobRun(merchantId, LOAD_KIND),
    store.getLatestJobRun(merchantId, BACKFILL_KIND),
    store.getLastExportAt(merchantId),
    store.countExportPending(merchantId, new Date(Date.now() - PENDING_FRESH_MS)),
  ])
  const object = settings.import.object
  const replayId = object ? await store.getReplayId(merchantId, cdcChannelOf(object)) : null
  const hasTokens = connection !== null && connection.state !== 'disconnected' && connection.refreshTokenEnc !== null
  const state: ConnectionStateView = !hasTokens ? 'not-connected' : connection.state === 'needs-reauth' ? 'needs-reauth' : 'connected'
  const paused = pause !== null && (pause.until === null || pause.until > new Date())
  const usage = !connection ? null : deps.budget ? await deps.budget.usage(connection.orgId) : await store.getApiUsage(connection.orgId, budgetWindowStart())
  const percent = settings.export.apiBudgetPercent ?? deps.config?.salesforce.apiBudgetPercent ?? 50
  const exporting = state === 'connected' && settings.import.enabled && settings.export.enabled
  return {
    merchantId,
    connection: hasTokens
      ? {
          state,
          environment: connection.environment,
          orgId: connection.orgId,
          userId: connection.userId,
          username: connection.username,
          instanceUrl: connection.instanceUrl,
          connectedAt: connection.connectedAt.toISOString(),
        }
      : { state },
    import: settings.version === 0 ? { enabled: false } : settings.import,
    export: settings.version === 0 ? { enabled: false } : settings.export,
    health: {
      cdc: sync.cdc,
      cdcError: sync.cdcError,
      replayId: replayId === null ? null : String(replayId),
      load: loadView(load),
      lastImportAt: sync.lastImportAt?.toISOString() ?? null,
      lastExportAt: lastExportAt?.toISOString() ?? null,
      export: {
        state: paused ? 'paused' : exporting ? 'running' : 'stopped',
        pauseReason: paused ? pause.reason : null,
        pausedUntil: paused ? pause.until?.toISOString() ?? null : null,
        pending,
        parked,
      },
      pendingExport: pending + parked,
      exportBackfill: backfillView(backfill),
      apiBudget: {
        used: usage?.used ?? null,
        limit: usage?.orgMax == null ? null : Math.floor((usage.orgMax * percent) / 100),
        orgUsed: usage?.orgUsed ?? null,
        orgMax: usage?.orgMax ?? null,
      },
      errors,
      errorsByCode,
      lastReconcile: lastReconcile
        ? { runId: lastReconcile.id, status: lastReconcile.status, dryRun: lastReconcile.dryRun, startedAt: lastReconcile.startedAt?.toISOString() ?? null, finishedAt: lastReconcile.finishedAt?.toISOString() ?? null }
        : null,
    },
  }
}
