/** PostgreSQL: API call counts per org and hour, the org's reported usage, pending export counts, lastExportAt. */
import type { ExportStateStore } from '../types/index.ts'
import { jsonRows, one, type PostgresContext, type Queryable } from './db.ts'

/** Move the merchant's lastExportAt forward to `at` (inside a batch's transaction). */
export async function noteExport(q: Queryable, merchantId: string, at: Date): Promise<void> {
  await q.query(
    `INSERT INTO export_health (merchant_id, last_export_at) VALUES ($1, $2)
      ON CONFLICT (merchant_id) DO UPDATE SET last_export_at = excluded.last_export_at
      WHERE export_health.last_export_at < excluded.last_export_at`,
    [merchantId, at])
}

export function postgresExportState({ pool }: PostgresContext): ExportStateStore {
  return {
    async addApiCalls(counts) {
      if (counts.length === 0) return
      // One upsert; repeats of a bucket are summed first (an upsert may touch a row once).
      const sums = new Map<string, { orgId: string; hour: string; calls: number }>()
      for (const c of counts) {
        const key = `${c.orgId}\u0000${c.hour.toISOString()}`
        const seen = sums.get(key)
        if (seen) seen.calls += c.calls
        else sums.set(key, { orgId: c.orgId, hour: c.hour.toISOString(), calls: c.calls })
      }
      await pool.query(
        `INSERT INTO api_calls (org_id, hour, calls)
          SELECT r."orgId", r.hour, r.calls FROM jsonb_to_recordset($1::jsonb) AS r("orgId" text, hour timestamptz, calls bigint)
          ON CONFLICT (org_id, hour) DO UPDATE SET calls = api_calls.calls + excluded.calls`,
        [jsonRows([...sums.values()])])
    },

    async saveOrgApiUsage(orgId, usage) {
      await pool.query(
        `INSERT INTO api_org_usage (org_id, used, max, reported_at) VALUES ($1, $2, $3, $4)
          ON CONFLICT (org_id) DO UPDATE SET used = excluded.used, max = excluded.max, reported_at = excluded.reported_at
          WHERE api_org_usage.reported_at <= excluded.reported_at`,
        [orgId, usage.used, usage.max, usage.at])
    },

    async getApiUsage(orgId, since) {
      const [calls, org] = await Promise.all([
        one(pool, 'SELECT coalesce(sum(calls), 0) AS n FROM api_calls WHERE org_id = $1 AND hour >= $2', [orgId, since]),
        one(pool, 'SELECT used, max, reported_at FROM api_org_usage WHERE org_id = $1', [orgId]),
      ])
      return {
        orgId,
        used: Number(calls?.n ?? 0),
        orgUsed: org ? Number(org.used) : null,
        orgMax: org ? Number(org.max) : null,
        reportedAt: org ? new Date(org.reported_at as string | Date) : null,
      }
    },

    async setExportPending(merchantId, instance, pending) {
      if (pending === 0) await pool.query('DELETE FROM export_pending WHERE merchant_id = $1 AND instance = $2', [merchantId, instance])
      else {
        await pool.query(
          `INSERT INTO export_pending (merchant_id, instance, pending, updated_at) VALUES ($1, $2, $3, clock_timestamp())
            ON CONFLICT (merchant_id, instance) DO UPDATE SET pending = excluded.pending, updated_at = excluded.updated_at`,
          [merchantId, instance, pending])
      }
    },

    async countExportPending(merchantId, freshSince) {
      const row = await one(pool, 'SELECT coalesce(sum(pending), 0) AS n FROM export_pending WHERE merchant_id = $1 AND updated_at >= $2', [merchantId, freshSince])
      return Number(row?.n ?? 0)
    },

    async getLastExportAt(merchantId) {
      const row = await one(pool, 'SELECT last_export_at FROM export_health WHERE merchant_id = $1', [merchantId])
      return row ? new Date(row.last_export_at as string | Date) : null
    },
  }
}
