/** PostgreSQL: export versions per user and property. */
import { highestExportVersions } from '../shared/batches.ts'
import { toExportVersion } from '../shared/rows.ts'
import type { ExportVersionStore, NewExportVersion } from '../types/index.ts'
import { codec, jsonRows, probeByKeys, rows, unique, type PostgresContext, type Queryable } from './db.ts'

/** Write each version only when higher than the stored one, in one statement; returns those written. */
export async function writeExportVersions(q: Queryable, merchantId: string, versions: NewExportVersion[]): Promise<Array<{ userId: string; property: string }>> {
  if (versions.length === 0) return []
  // Rows in key order: two batches upserting the same rows then lock them in the same order.
  const input = highestExportVersions(versions)
    .sort((a, b) => (a.userId === b.userId ? (a.property < b.property ? -1 : 1) : a.userId < b.userId ? -1 : 1))
    .map((v) => ({ user_id: v.userId, property: v.property, version: v.version, value: v.value ?? null, record_id: v.recordId ?? null }))
  const written = await rows(q,
    `INSERT INTO export_versions (merchant_id, user_id, property, version, value, record_id, updated_at)
      SELECT $1, r.user_id, r.property, r.version, coalesce(r.value, 'null'::jsonb), r.record_id, $3
      FROM jsonb_to_recordset($2::jsonb) AS r(user_id text, property text, version bigint, value jsonb, record_id text)
      ON CONFLICT (merchant_id, user_id, property) DO UPDATE SET version = excluded.version, value = excluded.value,
        record_id = excluded.record_id, updated_at = excluded.updated_at
      WHERE excluded.version > export_versions.version
      RETURNING user_id, property`,
    [merchantId, jsonRows(input), new Date()])
  return written.map((r) => ({ userId: String(r.user_id), property: String(r.property) }))
}

export function postgresExportVersions({ pool }: PostgresContext): ExportVersionStore {
  return {
    async getExportVersions(merchantId, userIds) {
      if (userIds.length === 0) return []
      const found = await rows(pool, `${probeByKeys('export_versions', 'user_id')} ORDER BY t.user_id, t.property`, [merchantId, unique(userIds)])
      return found.map((row) => toExportVersion(row, codec))
    },
  }
}
