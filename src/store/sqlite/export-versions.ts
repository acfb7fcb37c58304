/** SQLite: export versions per user and property. */
import { highestExportVersions } from '../shared/batches.ts'
import { toExportVersion, toJson } from '../shared/rows.ts'
import type { ExportVersionStore, NewExportVersion } from '../types/index.ts'
import { codec, jsonList, nullable, type SqliteContext } from './db.ts'

/** Write each version only when higher than the stored one; returns those written. Inside a transaction. */
export function writeExportVersions({ sql }: SqliteContext, merchantId: string, versions: NewExportVersion[]): Array<{ userId: string; property: string }> {
  const written: Array<{ userId: string; property: string }> = []
  const at = Date.now()
  for (const v of highestExportVersions(versions)) {
    const row = sql.get`INSERT INTO export_versions (merchant_id, user_id, property, version, value, record_id, updated_at)
      VALUES (${merchantId}, ${v.userId}, ${v.property}, ${v.version}, ${toJson(v.value ?? null)}, ${nullable(v.recordId)}, ${at})
      ON CONFLICT (merchant_id, user_id, property) DO UPDATE SET version = excluded.version, value = excluded.value,
        record_id = excluded.record_id, updated_at = excluded.updated_at
      WHERE excluded.version > export_versions.version
      RETURNING property`
    if (row) written.push({ userId: v.userId, property: v.property })
  }
  return written
}

export function sqliteExportVersions({ sql }: SqliteContext): ExportVersionStore {
  return {
    async getExportVersions(merchantId, userIds) {
      if (userIds.length === 0) return []
      return sql.all`SELECT * FROM export_versions WHERE merchant_id = ${merchantId}
          AND user_id IN (SELECT value FROM json_each(${jsonList(userIds)}))
        ORDER BY user_id, property`.map((row) => toExportVersion(row, codec))
    },
  }
}
