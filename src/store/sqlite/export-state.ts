/** SQLite: API call counts per org and hour, the org's reported usage, pending export counts, lastExportAt. */
import type { ExportStateStore } from '../types/index.ts'
import { ms, type SqliteContext } from './db.ts'

/** Move the merchant's lastExportAt forward to `at` (inside a batch's transaction). */
export function noteExport({ sql }: SqliteContext, merchantId: string, at: Date): void {
  sql.run`INSERT INTO export_health (merchant_id, last_export_at) VALUES (${merchantId}, ${ms(at)})
    ON CONFLICT (merchant_id) DO UPDATE SET last_export_at = excluded.last_export_at
    WHERE export_health.last_export_at < excluded.last_export_at`
}

export function sqliteExportState(ctx: SqliteContext): ExportStateStore {
  const { sql } = ctx
  return {
    async addApiCalls(counts) {
      if (counts.length === 0) return
      ctx.transaction(() => {
        for (const c of counts) {
          sql.run`INSERT INTO api_calls (org_id, hour, calls) VALUES (${c.orgId}, ${ms(c.hour)}, ${c.calls})
            ON CONFLICT (org_id, hour) DO UPDATE SET calls = api_calls.calls + excluded.calls`
        }
      })
    },

    async saveOrgApiUsage(orgId, usage) {
      sql.run`INSERT INTO api_org_usage (org_id, used, max, reported_at) VALUES (${orgId}, ${usage.used}, ${usage.max}, ${ms(usage.at)})
        ON CONFLICT (org_id) DO UPDATE SET used = excluded.used, max = excluded.max, reported_at = excluded.reported_at
        WHERE api_org_usage.reported_at <= excluded.reported_at`
    },

    async getApiUsage(orgId, since) {
      const calls = sql.get`SELECT coalesce(sum(calls), 0) AS n FROM api_calls WHERE org_id = ${orgId} AND hour >= ${ms(since)}`
      const org = sql.get`SELECT used, max, reported_at FROM api_org_usage WHERE org_id = ${orgId}`
      return {
        orgId,
        used: Number(calls?.n ?? 0),
        orgUsed: org ? Number(org.used) : null,
        orgMax: org ? Number(org.max) : null,
        reportedAt: org ? new Date(Number(org.reported_at)) : null,
      }
    },

    async setExportPending(merchantId, instance, pending) {
      if (pending === 0) sql.run`DELETE FROM export_pending WHERE merchant_id = ${merchantId} AND instance = ${instance}`
      else {
        sql.run`INSERT INTO export_pending (merchant_id, instance, pending, updated_at) VALUES (${merchantId}, ${instance}, ${pending}, ${Date.now()})
          ON CONFLICT (merchant_id, instance) DO UPDATE SET pending = excluded.pending, updated_at = excluded.updated_at`
      }
    },

    async countExportPending(merchantId, freshSince) {
      return Number(sql.get`SELECT coalesce(sum(pending), 0) AS n FROM export_pending WHERE merchant_id = ${merchantId} AND updated_at >= ${ms(freshSince)}`?.n ?? 0)
    },

    async getLastExportAt(merchantId) {
      const row = sql.get`SELECT last_export_at FROM export_health WHERE merchant_id = ${merchantId}`
      return row ? new Date(Number(row.last_export_at)) : null
    },
  }
}
