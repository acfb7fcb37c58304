/**
 * `GET /v1/merchants/:merchantId/salesforce`: the connection, the settings and a health
 * summary in the shape of contracts §2 and §8. What the store knows is live (open errors and
 * their codes, the replay checkpoint, parked export changes, the export pause, the last
 * reconcile). The values that the sync engines report (`cdc`, `cdcError`, `load`,
 * `lastImportAt`, `lastExportAt`, pending export, API budget) keep their final shape and
 * answer `stopped` / `idle` / null until an engine runs.
 */
import { cdcChannelOf } from '../salesforce/index.ts'
import type { Store } from '../store/index.ts'
import type { SettingsService } from './service.ts'

export type ConnectionStateView = 'not-connected' | 'connected' | 'needs-reauth'

export interface StatusDeps {
  store: Store
  settings: SettingsService
}

export async function buildStatus(deps: StatusDeps, merchantId: string) {
  const { store } = deps
  const [connection, settings, errors, errorsByCode, lastReconcile, parked, pause] = await Promise.all([
    store.getConnection(merchantId),
    deps.settings.get(merchantId),
    store.countErrors(merchantId),
    store.countErrorsByCode(merchantId),
    store.getLatestJobRun(merchantId, 'reconcile'),
    store.countParkedChanges(merchantId),
    store.getExportPause(merchantId),
  ])
  const object = settings.import.object
  const replayId = object ? await store.getReplayId(merchantId, cdcChannelOf(object)) : null
  const hasTokens = connection !== null && connection.state !== 'disconnected' && connection.refreshTokenEnc !== null
  const state: ConnectionStateView = !hasTokens ? 'not-connected' : connection.state === 'needs-reauth' ? 'needs-reauth' : 'connected'
  const paused = pause !== null && (pause.until === null || pause.until > new Date())
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
      cdc: 'stopped',
      cdcError: null,
      replayId: replayId === null ? null : String(replayId),
      load: { state: 'idle', processed: 0, total: null },
      lastImportAt: null,
      lastExportAt: null,
      export: {
        state: paused ? 'paused' : 'stopped',
        pauseReason: paused ? pause.reason : null,
        pausedUntil: paused ? pause.until?.toISOString() ?? null : null,
        pending: 0,
        parked,
      },
      pendingExport: 0,
      apiBudget: { used: null, limit: null, orgUsed: null, orgMax: null },
      errors,
      errorsByCode,
      lastReconcile: lastReconcile
        ? { runId: lastReconcile.id, status: lastReconcile.status, dryRun: lastReconcile.dryRun, startedAt: lastReconcile.startedAt?.toISOString() ?? null, finishedAt: lastReconcile.finishedAt?.toISOString() ?? null }
        : null,
    },
  }
}
