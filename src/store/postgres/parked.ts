/**
 * PostgreSQL: parked export changes and the export pause. Parking is one upsert that merges
 * in SQL (merge_parked_properties, migration 002), so two instances parking the same key at
 * once both land; acks delete only entries whose seq is still the one peeked.
 */
import { coalesceParkChanges } from '../shared/batches.ts'
import { clampKeysetLimit } from '../shared/paging.ts'
import { toExportPause, toParkedChange } from '../shared/rows.ts'
import type { ParkedAck, ParkedStore } from '../types/index.ts'
import { codec, jsonRows, one, rows, type PostgresContext, type Queryable } from './db.ts'

/** Delete applied entries, only those whose seq is still the one peeked (one parked again meanwhile stays). */
export async function deleteParked(client: Queryable, merchantId: string, acks: ParkedAck[]): Promise<number> {
  if (acks.length === 0) return 0
  const result = await client.query(
    `DELETE FROM parked_changes p USING jsonb_to_recordset($2::jsonb) AS r(key text, seq bigint)
      WHERE p.merchant_id = $1 AND p.key = r.key AND p.seq = r.seq`,
    [merchantId, jsonRows(acks.map(({ key, seq }) => ({ key, seq })))])
  return result.rowCount ?? 0
}

export function postgresParked({ pool }: PostgresContext): ParkedStore {
  return {
    async parkExportChanges(merchantId, changes) {
      if (changes.length === 0) return 0
      // An upsert may touch a row once: merge repeats of a key first, keeping first-seen order.
      const input = coalesceParkChanges(changes)
      const result = await pool.query(
        `INSERT INTO parked_changes (merchant_id, key, position, seq, properties, parked_at, updated_at)
          SELECT $1, r.key, nextval('parked_changes_seq'), nextval('parked_changes_seq'), r.properties, $3, $3
          FROM jsonb_to_recordset($2::jsonb) AS r(key text, properties jsonb)
          ON CONFLICT (merchant_id, key) DO UPDATE SET
            properties = merge_parked_properties(parked_changes.properties, excluded.properties),
            seq = excluded.seq, updated_at = excluded.updated_at
          WHERE merge_parked_properties(parked_changes.properties, excluded.properties) IS DISTINCT FROM parked_changes.properties`,
        [merchantId, jsonRows(input), new Date()])
      return result.rowCount ?? 0
    },

    async peekParkedChanges(merchantId, limit, after) {
      const found = await rows(pool, 'SELECT * FROM parked_changes WHERE merchant_id = $1 AND position > $3 ORDER BY position LIMIT $2', [merchantId, clampKeysetLimit(limit), after ?? -1])
      return found.map((row) => toParkedChange(row, codec))
    },

    async ackParkedChanges(merchantId, acks) {
      return deleteParked(pool, merchantId, acks)
    },

    async countParkedChanges(merchantId) {
      return Number((await one(pool, 'SELECT count(*) AS n FROM parked_changes WHERE merchant_id = $1', [merchantId]))?.n ?? 0)
    },

    async setExportPause(merchantId, pause) {
      await pool.query(
        `INSERT INTO export_pauses (merchant_id, reason, until, since) VALUES ($1, $2, $3, clock_timestamp())
          ON CONFLICT (merchant_id) DO UPDATE SET reason = excluded.reason, until = excluded.until, since = excluded.since`,
        [merchantId, pause.reason, pause.until])
    },

    async getExportPause(merchantId) {
      const row = await one(pool, 'SELECT * FROM export_pauses WHERE merchant_id = $1 AND (until IS NULL OR until > clock_timestamp())', [merchantId])
      return row ? toExportPause(row, codec) : null
    },

    async clearExportPause(merchantId) {
      await pool.query('DELETE FROM export_pauses WHERE merchant_id = $1', [merchantId])
    },
  }
}
