/** SQLite: last-synced values per record and field. */
import { newestFieldStates } from '../shared/batches.ts'
import { clampKeysetLimit, toKeysetPage } from '../shared/paging.ts'
import { toFieldState, toJson } from '../shared/rows.ts'
import type { FieldState, FieldStateKey, FieldStateStore } from '../types/index.ts'
import { codec, jsonList, ms, type SqliteContext } from './db.ts'

export type SqliteFieldStates = Omit<FieldStateStore, 'walkFieldStates'>

/** Write each state only when newer by (changedAt, sequence); returns those written. Inside a transaction. */
export function writeFieldStates({ sql }: SqliteContext, states: FieldState[]): Array<FieldStateKey & { merchantId: string }> {
  const written: Array<FieldStateKey & { merchantId: string }> = []
  for (const s of newestFieldStates(states)) {
    const row = sql.get`INSERT INTO field_states (merchant_id, record_id, field, value, changed_at, sequence, direction)
      VALUES (${s.merchantId}, ${s.recordId}, ${s.field}, ${toJson(s.value ?? null)}, ${ms(s.changedAt)}, ${s.sequence}, ${s.direction})
      ON CONFLICT (merchant_id, record_id, field) DO UPDATE SET value = excluded.value, changed_at = excluded.changed_at,
        sequence = excluded.sequence, direction = excluded.direction
      WHERE (excluded.changed_at, excluded.sequence) > (field_states.changed_at, field_states.sequence)
      RETURNING field`
    if (row) written.push({ merchantId: s.merchantId, recordId: s.recordId, field: s.field })
  }
  return written
}

export function sqliteFieldStates(ctx: SqliteContext): SqliteFieldStates {
  const { sql } = ctx
  return {
    async getFieldStates(merchantId, recordId) {
      return sql.all`SELECT * FROM field_states WHERE merchant_id = ${merchantId} AND record_id = ${recordId} ORDER BY field`
        .map((row) => toFieldState(row, codec))
    },

    async getFieldStatesOf(merchantId, recordIds) {
      if (recordIds.length === 0) return []
      return sql.all`SELECT * FROM field_states WHERE merchant_id = ${merchantId}
          AND record_id IN (SELECT value FROM json_each(${jsonList(recordIds)}))
        ORDER BY record_id, field`.map((row) => toFieldState(row, codec))
    },

    async saveFieldStates(states) {
      if (states.length === 0) return []
      const written = ctx.transaction(() => writeFieldStates(ctx, states))
      return [...new Set(written.map((w) => w.field))]
    },

    async listFieldStatesPage(merchantId, options = {}) {
      const limit = clampKeysetLimit(options.limit)
      const after = options.after
      const rows = after == null
        ? sql.all`SELECT * FROM field_states WHERE merchant_id = ${merchantId} ORDER BY record_id, field LIMIT ${limit + 1}`
        : sql.all`SELECT * FROM field_states WHERE merchant_id = ${merchantId} AND (record_id, field) > (${after.recordId}, ${after.field})
            ORDER BY record_id, field LIMIT ${limit + 1}`
      return toKeysetPage(rows.map((row) => toFieldState(row, codec)), limit, (s) => ({ recordId: s.recordId, field: s.field }))
    },
  }
}
