/** SQLite: the audit log. */
import { newId } from '../shared/ids.ts'
import { toPage } from '../shared/paging.ts'
import { toAuditEntry, toJson } from '../shared/rows.ts'
import type { AuditStore } from '../types/index.ts'
import { codec, newestFirst, type SqliteContext } from './db.ts'

export function sqliteAudit(ctx: SqliteContext): AuditStore {
  return {
    async appendAudit(entry) {
      const at = Date.now()
      const row = ctx.sql.get`INSERT INTO audit_log (id, merchant_id, actor, action, details, at)
        VALUES (${newId(at)}, ${entry.merchantId}, ${entry.actor}, ${entry.action}, ${toJson(entry.details ?? null)}, ${at}) RETURNING *`
      return toAuditEntry(row!, codec)
    },

    async listAudit(merchantId, options = {}) {
      const { rows, limit } = newestFirst(ctx, { table: 'audit_log' }, merchantId, options)
      return toPage(rows.map((row) => toAuditEntry(row, codec)), limit)
    },
  }
}
