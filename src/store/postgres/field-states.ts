/** PostgreSQL: last-synced values per record and field. */
import { newestFieldStates } from '../shared/batches.ts'
import { clampKeysetLimit, toKeysetPage } from '../shared/paging.ts'
import { toFieldState } from '../shared/rows.ts'
import type { FieldState, FieldStateKey, FieldStateStore } from '../types/index.ts'
import { codec, jsonRows, keysetRows, probeByKeys, rows, unique, type PostgresContext, type Queryable } from './db.ts'

const byKey = (a: FieldState, b: FieldState): number =>
  a.merchantId < b.merchantId ? -1 : a.merchantId > b.merchantId ? 1
    : a.recordId < b.recordId ? -1 : a.recordId > b.recordId ? 1
      : a.field < b.field ? -1 : a.field > b.field ? 1 : 0

export type PostgresFieldStates = Omit<FieldStateStore, 'walkFieldStates'>

/**
 * Write each state only when newer by (changedAt, sequence), in one statement; returns those
 * written. The input is first reduced to one state per key: an upsert may touch a row once.
 */
export async function writeFieldStates(q: Queryable, states: FieldState[]): Promise<Array<FieldStateKey & { merchantId: string }>> {
  if (states.length === 0) return []
  // Rows in key order: two batches upserting the same rows then lock them in the same order.
  const input = newestFieldStates(states).sort(byKey).map((s) => ({
    merchant_id: s.merchantId, record_id: s.recordId, field: s.field, value: s.value ?? null,
    changed_at: s.changedAt.toISOString(), sequence: s.sequence, direction: s.direction,
  }))
  const written = await rows(q,
    `INSERT INTO field_states (merchant_id, record_id, field, value, changed_at, sequence, direction)
      SELECT r.merchant_id, r.record_id, r.field, coalesce(r.value, 'null'::jsonb), r.changed_at, r.sequence, r.direction
      FROM jsonb_to_recordset($1::jsonb) AS r(merchant_id text, record_id text, field text, value jsonb, changed_at timestamptz, sequence bigint, direction text)
      ON CONFLICT (merchant_id, record_id, field) DO UPDATE SET value = excluded.value, changed_at = excluded.changed_at,
        sequence = excluded.sequence, direction = excluded.direction
      WHERE (excluded.changed_at, excluded.sequence) > (field_states.changed_at, field_states.sequence)
      RETURNING merchant_id, record_id, field`,
    [jsonRows(input)])
  return written.map((r) => ({ merchantId: String(r.merchant_id), recordId: String(r.record_id), field: String(r.field) }))
}

export function postgresFieldStates(ctx: PostgresContext): PostgresFieldStates {
  const { pool } = ctx
  return {
    async getFieldStates(merchantId, recordId) {
      const found = await rows(pool, 'SELECT * FROM field_states WHERE merchant_id = $1 AND record_id = $2 ORDER BY field', [merchantId, recordId])
      return found.map((row) => toFieldState(row, codec))
    },

    async getFieldStatesOf(merchantId, recordIds) {
      if (recordIds.length === 0) return []
      const found = await rows(pool, `${probeByKeys('field_states', 'record_id')} ORDER BY t.record_id, t.field`, [merchantId, unique(recordIds)])
      return found.map((row) => toFieldState(row, codec))
    },

    async saveFieldStates(states) {
      if (states.length === 0) return []
      const written = await ctx.transaction((client) => writeFieldStates(client, states))
      return [...new Set(written.map((w) => w.field))]
    },

    async listFieldStatesPage(merchantId, options = {}) {
      const limit = clampKeysetLimit(options.limit)
      const after = options.after
      const found = after == null
        ? await keysetRows(ctx, 'SELECT * FROM field_states WHERE merchant_id = $1 ORDER BY record_id, field LIMIT $2', [merchantId, limit + 1])
        : await keysetRows(ctx,
          'SELECT * FROM field_states WHERE merchant_id = $1 AND (record_id, field) > ($2, $3) ORDER BY record_id, field LIMIT $4',
          [merchantId, after.recordId, after.field, limit + 1])
      return toKeysetPage(found.map((row) => toFieldState(row, codec)), limit, (s) => ({ recordId: s.recordId, field: s.field }))
    },
  }
}
