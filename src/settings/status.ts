/**
 * `GET /v1/merchants/:merchantId/salesforce`: the connection, the settings and a health
 * summary in the shape of contracts §2. Health fields of features that do not run yet answer
 * null (CDC `stopped`), so the shape is stable from now on.
 */
import type { Store } from '../store/index.ts'

export type ConnectionStateView = 'not-connected' | 'connected' | 'needs-reauth'

export async function buildStatus(store: Store, merchantId: string) {
  const [connection, settings, errors, lastReconcile] = await Promise.all([
    store.getConnection(merchantId),
    store.getSettings(merchantId),
    store.countErrors(merchantId),
    store.getLatestJobRun(merchantId, 'reconcile'),
  ])
  const hasTokens = connection !== null && connection.state !== 'disconnected' && connection.refreshTokenEnc !== null
  const state: ConnectionStateView = !hasTokens ? 'not-connected' : connection.state === 'needs-reauth' ? 'needs-reauth' : 'connected'
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
    import: settings?.import ?? { enabled: false },
    export: settings?.export ?? { enabled: false },
    health: {
      cdc: 'stopped',
      lastImportAt: null,
      lastExportAt: null,
      pendingExport: 0,
      apiBudget: { used: null, limit: null },
      errors,
      lastReconcile: lastReconcile
        ? { runId: lastReconcile.id, status: lastReconcile.status, dryRun: lastReconcile.dryRun, startedAt: lastReconcile.startedAt?.toISOString() ?? null, finishedAt: lastReconcile.finishedAt?.toISOString() ?? null }
        : null,
    },
  }
}
