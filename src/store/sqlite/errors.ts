/** SQLite: per-record errors, open until resolved. */
import { newId } from '../shared/ids.ts'
import { toPage } from '../shared/paging.ts'
import { errorStateFilter, resolutionRow } from '../shared/queries.ts'
import { toJson, toRecordError } from '../shared/rows.ts'
import type { ErrorResolution, ErrorStore, NewRecordError, RecordError } from '../types/index.ts'
import { codec, jsonList, newestFirst, nullable, type SqliteContext } from './db.ts'

/** Record one refusal (or bump the open one). */
export function writeError({ sql }: SqliteContext, e: NewRecordError): RecordError {
  const at = Date.now()
  const row = sql.get`INSERT INTO record_errors (id, merchant_id, direction, record_id, user_id, email, code, message, payload, attempts, first_at, at)
    VALUES (${newId(at)}, ${e.merchantId}, ${e.direction}, ${nullable(e.recordId)}, ${nullable(e.userId)}, ${nullable(e.email)},
      ${e.code}, ${e.message}, ${toJson(e.payload ?? null)}, 1, ${at}, ${at})
    ON CONFLICT (merchant_id, direction, coalesce(record_id, ''), coalesce(user_id, ''), code) WHERE resolved_at IS NULL DO UPDATE SET
      attempts = record_errors.attempts + 1, message = excluded.message, payload = excluded.payload,
      email = coalesce(excluded.email, record_errors.email), at = excluded.at
    RETURNING *`
  return toRecordError(row!, codec)
}

/** Resolve the matching open errors; returns how many. */
export function writeResolutions({ sql }: SqliteContext, merchantId: string, resolutions: ErrorResolution[]): number {
  let resolved = 0
  const at = Date.now()
  const rows = resolutions.map(resolutionRow)
  // "Every error of these records" (what an import batch resolves): one statement per
  // direction on the open-errors index, instead of one per record.
  const byRecordOnly = new Map<string, string[]>()
  const others: typeof rows = []
  for (const r of rows) {
    if (r.record_id === null || r.user_id !== null || r.code !== null) others.push(r)
    else byRecordOnly.set(r.direction, [...(byRecordOnly.get(r.direction) ?? []), r.record_id])
  }
  for (const [direction, recordIds] of byRecordOnly) {
    resolved += Number(sql.run`UPDATE record_errors SET resolved_at = ${at}
      WHERE merchant_id = ${merchantId} AND direction = ${direction} AND resolved_at IS NULL
        AND record_id IN (SELECT value FROM json_each(${jsonList(recordIds)}))`.changes)
  }
  for (const r of others) {
    resolved += Number(sql.run`UPDATE record_errors SET resolved_at = ${at}
      WHERE merchant_id = ${merchantId} AND direction = ${r.direction} AND resolved_at IS NULL
        AND (${r.record_id} IS NULL OR record_id = ${r.record_id})
        AND (${r.user_id} IS NULL OR user_id = ${r.user_id})
        AND (${r.code} IS NULL OR code = ${r.code})`.changes)
  }
  return resolved
}

export function sqliteErrors(ctx: SqliteContext): ErrorStore {
  const { sql } = ctx
  return {
    async recordError(e) {
      return writeError(ctx, e)
    },

    async listErrors(merchantId, options = {}) {
      const { rows, limit } = newestFirst(ctx, { table: 'record_errors', filter: errorStateFilter(options.state) }, merchantId, options)
      return toPage(rows.map((row) => toRecordError(row, codec)), limit)
    },

    async getError(merchantId, id) {
      const row = sql.get`SELECT * FROM record_errors WHERE merchant_id = ${merchantId} AND id = ${id}`
      return row ? toRecordError(row, codec) : null
    },

    async deleteError(merchantId, id) {
      return sql.run`DELETE FROM record_errors WHERE merchant_id = ${merchantId} AND id = ${id}`.changes > 0
    },

    async resolveErrors(merchantId, resolutions) {
      if (resolutions.length === 0) return 0
      return ctx.transaction(() => writeResolutions(ctx, merchantId, resolutions))
    },

    async countErrors(merchantId) {
      return Number(sql.get`SELECT count(*) AS n FROM record_errors WHERE merchant_id = ${merchantId} AND resolved_at IS NULL`?.n ?? 0)
    },

    async countErrorsByCode(merchantId) {
      const counts: Record<string, number> = {}
      for (const row of sql.all`SELECT code, count(*) AS n FROM record_errors WHERE merchant_id = ${merchantId} AND resolved_at IS NULL
          GROUP BY code ORDER BY code`) {
        counts[String(row.code)] = Number(row.n)
      }
      return counts
    },
  }
}
