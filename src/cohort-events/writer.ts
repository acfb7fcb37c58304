/**
 * The export backfill's writer (backfill.ts `BackfillWriter`): a page of Cohort users through
 * the export's own path (export.ts `exportChanges`): resolve, create in mode `all`, write the
 * mapped values with each user's `version` (`ensure` set: matched records get the Cohort id and
 * a link even without a value), record per-record errors, store it all. A page that
 * meets a pause (API limit, budget, re-authorisation) parks what it could not write and pauses
 * the merchant, like the exporter: the exporter sends the parked changes first on resume.
 */
import type { User } from '../cohort/index.ts'
import { AppError } from '../errors.ts'
import type { Services } from '../services.ts'
import type { BackfillOutcome, BackfillWriter } from './backfill.ts'
import type { UserChange } from './coalesce.ts'
import { exportChanges, type ExportOptions } from './export.ts'
import { toParked } from './exporter.ts'

/** A Cohort user as one change: every property at the user's version, as of its `updatedAt`. */
export function changeOfUser(user: User, ensure: boolean): UserChange {
  const occurredAt = new Date(user.updatedAt)
  return {
    userId: user.id,
    email: user.email,
    emailVersion: user.version,
    ensure,
    properties: Object.fromEntries(Object.entries(user.properties).map(([property, value]) => [property, { value, version: user.version, occurredAt }])),
  }
}

export function createBackfillWriter(services: Services, options: { retry?: ExportOptions['retry'] } = {}): BackfillWriter {
  const { config, store } = services
  const deps = { config, store, connections: services.connections, describe: services.describe, budget: services.budget, logger: services.logger.child({ component: 'export-backfill' }) }
  return async (merchantId, settings, users, signal) => {
    // `ensure` in both modes: a matched record gets `cohortUserIdField` and its link even when
    // the user has no mapped value yet (issue #12, flow 6); in mode `existing` a user without a
    // record is skipped and counted (`no-salesforce-record`).
    const outcome = await exportChanges(deps, settings, users.map((u) => changeOfUser(u, true)), { signal, ...(options.retry ? { retry: options.retry } : {}) })
    const result: BackfillOutcome = { byAction: {}, byReason: { ...outcome.skipped }, apiCalls: outcome.calls }
    const add = (action: string, n: number) => void (n > 0 && (result.byAction[action] = (result.byAction[action] ?? 0) + n))
    add('updated', outcome.updated)
    add('created', outcome.created)
    add('unchanged', outcome.unchanged)
    add('skipped', Object.values(outcome.skipped).reduce((a, b) => a + b, 0))
    add('error', outcome.errors)
    // Disconnected mid-page: what was written is stored; the run fails and, on a reconnect,
    // resumes at this page (writing it again changes nothing).
    if (outcome.stopped) throw new AppError('salesforce.not-connected', `merchant ${merchantId} was disconnected during the backfill`)
    if (outcome.pause) {
      await store.setExportPause(merchantId, { reason: outcome.pause.reason, until: outcome.pause.until })
      await store.parkExportChanges(merchantId, outcome.remaining.map(toParked))
      add('parked', outcome.remaining.length)
      result.byReason[outcome.pause.reason] = (result.byReason[outcome.pause.reason] ?? 0) + outcome.remaining.length
    }
    return result
  }
}
