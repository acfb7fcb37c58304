/**
 * The two cheap reads a stream makes besides CometD:
 * - the stall check (every CDC_STALL_CHECK_MS while streaming): the newest `SystemModstamp` of
 *   the import object older than a grace period (one `queryAll` query, deletes count; the
 *   stand-in has no MAX()), compared with the last event received; newer means Salesforce has
 *   changes the stream never delivered (CometD is known to go silent for hours);
 * - the `/limits` probe while paused on an org allocation (every SALESFORCE_LIMITS_POLL_MS):
 *   whether the delivery allocation or a concurrent-client slot is back.
 */
import type { Connection } from 'jsforce'
import { apiName, queryRecords, soqlDateTime, toSalesforceError, withSalesforceDeadline } from '../salesforce/index.ts'
import type { LimitCode } from './classify.ts'

/** Newest `SystemModstamp` (ms) of the object at or before `before`, deleted records included; null when none. */
export async function newestModstamp(conn: Connection, object: string, before: Date): Promise<number | null> {
  const soql = `SELECT SystemModstamp FROM ${apiName(object)} WHERE SystemModstamp <= ${soqlDateTime(before)} ORDER BY SystemModstamp DESC LIMIT 1`
  const [newest] = await queryRecords(conn, soql, `stall check of ${object}`, { queryAll: true })
  const stamp = newest?.SystemModstamp
  const ms = typeof stamp === 'string' ? Date.parse(stamp) : NaN
  return Number.isNaN(ms) ? null : ms
}

export interface StallInput {
  /** Newest SystemModstamp older than the grace period, or null. */
  newest: number | null
  /** When the last event was received (store), or null. */
  lastEventAt: number | null
  /** When the last completed resync started reading, or null. */
  coveredUntil: number | null
  /** When this stream started watching (its subscribe): the baseline without events. */
  since: number
}

/** The time the stream is known to have delivered up to, when Salesforce changed after it; else null. */
export function stalledSince(input: StallInput): number | null {
  const seen = Math.max(input.lastEventAt ?? input.since, input.coveredUntil ?? Number.NEGATIVE_INFINITY)
  return input.newest !== null && input.newest > seen ? seen : null
}

type Limits = Record<string, { Max?: number; Remaining?: number } | undefined>

/** Reads `/limits` at most once per org and period (several merchants may share an org). */
export type LimitsReader = (orgId: string, conn: () => Promise<Connection>) => Promise<Limits>

export function createLimitsReader(periodMs: number): LimitsReader {
  const recent = new Map<string, { at: number; limits: Promise<Limits> }>()
  return (orgId, conn) => {
    const now = Date.now()
    const hit = recent.get(orgId)
    // A little under the period, so each paused stream's own timer gets a fresh read.
    if (hit && now - hit.at < periodMs * 0.8) return hit.limits
    const limits = (async () => {
      try {
        return (await withSalesforceDeadline(Promise.resolve((await conn()).limits()), 'read /limits')) as unknown as Limits
      } catch (err) {
        throw toSalesforceError(err, 'read /limits')
      }
    })()
    recent.set(orgId, { at: now, limits })
    limits.catch(() => recent.delete(orgId))
    for (const [id, entry] of recent) if (now - entry.at > periodMs) recent.delete(id)
    return limits
  }
}

/** Whether the allocation that paused the stream is available again, by `/limits`. */
export async function allocationAvailable(read: () => Promise<Limits>, code: LimitCode): Promise<{ available: boolean; remaining: number | null }> {
  const limits = await read()
  // CDC is durable streaming; older orgs report only the generic entry.
  const entry = code === 'cdc.delivery-limit' ? limits.DailyDeliveredPlatformEvents : limits.DurableStreamingApiConcurrentClients ?? limits.StreamingApiConcurrentClients
  const remaining = typeof entry?.Remaining === 'number' ? entry.Remaining : null
  return { available: remaining === null || remaining > 0, remaining }
}
