/** SQLite: the customers' sync history. */
import { newId } from '../shared/ids.ts'
import { clampLimit } from '../shared/paging.ts'
import { traceFilters } from '../shared/queries.ts'
import { toJson, toTraceEntry } from '../shared/rows.ts'
import type { NewTraceEntry, TraceStore } from '../types/index.ts'
import { codec, ms, nullable, type SqliteContext } from './db.ts'

export function writeTraces({ sql }: SqliteContext, entries: NewTraceEntry[]): void {
  const now = Date.now()
  for (const entry of entries) {
    sql.run`INSERT INTO traces (id, merchant_id, direction, record_id, user_id, email, outcome, details, at)
      VALUES (${newId()}, ${entry.merchantId}, ${entry.direction}, ${nullable(entry.recordId)}, ${nullable(entry.userId)},
        ${nullable(entry.email)}, ${entry.outcome}, ${toJson(entry.details ?? null)}, ${entry.at ? ms(entry.at) : now})`
  }
}

export function sqliteTraces(ctx: SqliteContext): TraceStore {
  return {
    async appendTrace(entry) {
      writeTraces(ctx, [entry])
    },

    async listTrace(merchantId, by, limit) {
      const filters = traceFilters(by)
      if (filters.length === 0) return []
      const where = filters.map((f) => `${f.column} = ?`).join(' OR ')
      return ctx.prepare(`SELECT * FROM traces WHERE merchant_id = ? AND (${where}) ORDER BY at DESC, id DESC LIMIT ?`)
        .all(merchantId, ...filters.map((f) => f.value), clampLimit(limit))
        .map((row) => toTraceEntry(row, codec))
    },
  }
}
