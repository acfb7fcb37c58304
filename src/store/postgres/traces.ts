/** PostgreSQL: the customers' sync history. */
import { newId } from '../shared/ids.ts'
import { clampLimit } from '../shared/paging.ts'
import { traceFilters } from '../shared/queries.ts'
import { toTraceEntry } from '../shared/rows.ts'
import type { NewTraceEntry, TraceStore } from '../types/index.ts'
import { codec, jsonRows, rows, type PostgresContext, type Queryable } from './db.ts'

/** Append many entries in one statement. */
export async function writeTraces(q: Queryable, entries: NewTraceEntry[]): Promise<void> {
  if (entries.length === 0) return
  const now = new Date().toISOString()
  const input = entries.map((e) => ({
    id: newId(), merchant_id: e.merchantId, direction: e.direction, record_id: e.recordId ?? null, user_id: e.userId ?? null,
    email: e.email ?? null, outcome: e.outcome, details: e.details ?? null, at: e.at ? e.at.toISOString() : now,
  }))
  await q.query(
    `INSERT INTO traces (id, merchant_id, direction, record_id, user_id, email, outcome, details, at)
      SELECT r.id, r.merchant_id, r.direction, r.record_id, r.user_id, r.email, r.outcome, coalesce(r.details, 'null'::jsonb), r.at
      FROM jsonb_to_recordset($1::jsonb) AS r(id text, merchant_id text, direction text, record_id text, user_id text, email text,
        outcome text, details jsonb, at timestamptz)`,
    [jsonRows(input)])
}

export function postgresTraces({ pool }: PostgresContext): TraceStore {
  return {
    async appendTrace(entry) {
      await writeTraces(pool, [entry])
    },

    async listTrace(merchantId, by, limit) {
      const filters = traceFilters(by)
      if (filters.length === 0) return []
      const where = filters.map((f, i) => `${f.column} = $${i + 2}`).join(' OR ')
      const found = await rows(pool,
        `SELECT * FROM traces WHERE merchant_id = $1 AND (${where}) ORDER BY at DESC, id DESC LIMIT $${filters.length + 2}`,
        [merchantId, ...filters.map((f) => f.value), clampLimit(limit)])
      return found.map((row) => toTraceEntry(row, codec))
    },
  }
}
