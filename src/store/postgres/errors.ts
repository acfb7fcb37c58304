/** PostgreSQL: per-record errors, open until resolved. */
import { newId } from '../shared/ids.ts'
import { toPage } from '../shared/paging.ts'
import { errorStateFilter, resolutionRow } from '../shared/queries.ts'
import { toJson, toRecordError } from '../shared/rows.ts'
import type { ErrorResolution, ErrorStore, NewRecordError, RecordError } from '../types/index.ts'
import { codec, jsonRows, newestFirst, one, rows, type PostgresContext, type Queryable } from './db.ts'

/** Record one refusal (or bump the open one). */
export async function writeError(q: Queryable, e: NewRecordError): Promise<RecordError> {
  const at = new Date()
  const row = await one(q,
    `INSERT INTO record_errors (id, merchant_id, direction, record_id, user_id, email, code, message, payload, attempts, first_at, at)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, 1, $10, $10)
      ON CONFLICT (merchant_id, direction, (coalesce(record_id, '')), (coalesce(user_id, '')), code) WHERE resolved_at IS NULL DO UPDATE SET
        attempts = record_errors.attempts + 1, message = excluded.message, payload = excluded.payload,
        email = coalesce(excluded.email, record_errors.email), at = excluded.at
      RETURNING *`,
    [newId(at.getTime()), e.merchantId, e.direction, e.recordId ?? null, e.userId ?? null, e.email ?? null, e.code, e.message, toJson(e.payload ?? null), at],
  )
  return toRecordError(row!, codec)
}

/**
 * Resolve the matching open errors in two statements (by record, and by user alone), each
 * able to use its partial index; returns how many.
 */
export async function writeResolutions(q: Queryable, merchantId: string, resolutions: ErrorResolution[]): Promise<number> {
  const input = resolutions.map(resolutionRow)
  const byRecord = input.filter((r) => r.record_id !== null)
  const byUser = input.filter((r) => r.record_id === null)
  const at = new Date()
  let resolved = 0
  const recordset = 'jsonb_to_recordset($2::jsonb) AS r(direction text, record_id text, user_id text, code text)'
  if (byRecord.length > 0) {
    const result = await q.query(
      `UPDATE record_errors e SET resolved_at = $3 FROM ${recordset}
        WHERE e.merchant_id = $1 AND e.resolved_at IS NULL AND e.record_id = r.record_id AND e.direction = r.direction
          AND (r.user_id IS NULL OR e.user_id = r.user_id) AND (r.code IS NULL OR e.code = r.code)`,
      [merchantId, jsonRows(byRecord), at])
    resolved += result.rowCount ?? 0
  }
  if (byUser.length > 0) {
    const result = await q.query(
      `UPDATE record_errors e SET resolved_at = $3 FROM ${recordset}
        WHERE e.merchant_id = $1 AND e.resolved_at IS NULL AND e.user_id = r.user_id AND e.direction = r.direction
          AND (r.code IS NULL OR e.code = r.code)`,
      [merchantId, jsonRows(byUser), at])
    resolved += result.rowCount ?? 0
  }
  return resolved
}

export function postgresErrors(ctx: PostgresContext): ErrorStore {
  const { pool } = ctx
  return {
    async recordError(e) {
      return writeError(pool, e)
    },

    async listErrors(merchantId, options = {}) {
      const { found, limit } = await newestFirst(pool, { table: 'record_errors', filter: errorStateFilter(options.state) }, merchantId, options)
      return toPage(found.map((row) => toRecordError(row, codec)), limit)
    },

    async getError(merchantId, id) {
      const row = await one(pool, 'SELECT * FROM record_errors WHERE merchant_id = $1 AND id = $2', [merchantId, id])
      return row ? toRecordError(row, codec) : null
    },

    async deleteError(merchantId, id) {
      const result = await pool.query('DELETE FROM record_errors WHERE merchant_id = $1 AND id = $2', [merchantId, id])
      return (result.rowCount ?? 0) > 0
    },

    async resolveErrors(merchantId, resolutions) {
      if (resolutions.length === 0) return 0
      return ctx.transaction((client) => writeResolutions(client, merchantId, resolutions))
    },

    async countErrors(merchantId) {
      const row = await one(pool, 'SELECT count(*) AS n FROM record_errors WHERE merchant_id = $1 AND resolved_at IS NULL', [merchantId])
      return Number(row?.n ?? 0)
    },

    async countErrorsByCode(merchantId) {
      const counts: Record<string, number> = {}
      const found = await rows(pool,
        'SELECT code, count(*) AS n FROM record_errors WHERE merchant_id = $1 AND resolved_at IS NULL GROUP BY code ORDER BY code', [merchantId])
      for (const row of found) counts[String(row.code)] = Number(row.n)
      return counts
    },
  }
}
