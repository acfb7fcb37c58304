/** PostgreSQL: the audit log. */
import { newId } from '../shared/ids.ts'
import { toPage } from '../shared/paging.ts'
import { toAuditEntry, toJson } from '../shared/rows.ts'
import type { AuditStore } from '../types/index.ts'
import { codec, newestFirst, one, type PostgresContext } from './db.ts'

export function postgresAudit({ pool }: PostgresContext): AuditStore {
  return {
    async appendAudit(entry) {
      const at = new Date()
      const row = await one(pool,
        'INSERT INTO audit_log (id, merchant_id, actor, action, details, at) VALUES ($1, $2, $3, $4, $5::jsonb, $6) RETURNING *',
        [newId(at.getTime()), entry.merchantId, entry.actor, entry.action, toJson(entry.details ?? null), at])
      return toAuditEntry(row!, codec)
    },

    async listAudit(merchantId, options = {}) {
      const { found, limit } = await newestFirst(pool, { table: 'audit_log' }, merchantId, options)
      return toPage(found.map((row) => toAuditEntry(row, codec)), limit)
    },
  }
}
