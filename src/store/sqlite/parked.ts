/**
 * SQLite: parked export changes and the export pause. Parking merges in memory inside the
 * write transaction, which no other writer can interleave with.
 */
import { coalesceParkChanges, mergeParked } from '../shared/batches.ts'
import { clampKeysetLimit } from '../shared/paging.ts'
import { toExportPause, toParkedChange } from '../shared/rows.ts'
import type { ParkedProperty, ParkedStore } from '../types/index.ts'
import { codec, ms, type SqliteContext } from './db.ts'

export function sqliteParked(ctx: SqliteContext): ParkedStore {
  const { sql } = ctx
  return {
    async parkExportChanges(merchantId, changes) {
      if (changes.length === 0) return 0
      return ctx.transaction(() => {
        let changed = 0
        const at = Date.now()
        for (const change of coalesceParkChanges(changes)) {
          const row = sql.get`SELECT properties FROM parked_changes WHERE merchant_id = ${merchantId} AND key = ${change.key}`
          const seq = ctx.nextCounter('parked_changes')
          if (!row) {
            sql.run`INSERT INTO parked_changes (merchant_id, key, position, seq, properties, parked_at, updated_at)
              VALUES (${merchantId}, ${change.key}, ${seq}, ${seq}, ${JSON.stringify(mergeParked({}, change.properties))}, ${at}, ${at})`
            changed++
            continue
          }
          const old = codec.json(row.properties) as Record<string, ParkedProperty>
          const merged = JSON.stringify(mergeParked(old, change.properties))
          if (merged === JSON.stringify(old)) continue
          sql.run`UPDATE parked_changes SET properties = ${merged}, seq = ${seq}, updated_at = ${at}
            WHERE merchant_id = ${merchantId} AND key = ${change.key}`
          changed++
        }
        return changed
      })
    },

    async peekParkedChanges(merchantId, limit) {
      return sql.all`SELECT * FROM parked_changes WHERE merchant_id = ${merchantId} ORDER BY position LIMIT ${clampKeysetLimit(limit)}`
        .map((row) => toParkedChange(row, codec))
    },

    async ackParkedChanges(merchantId, acks) {
      if (acks.length === 0) return 0
      return ctx.transaction(() => {
        let deleted = 0
        for (const ack of acks) {
          deleted += Number(sql.run`DELETE FROM parked_changes WHERE merchant_id = ${merchantId} AND key = ${ack.key} AND seq = ${ack.seq}`.changes)
        }
        return deleted
      })
    },

    async countParkedChanges(merchantId) {
      return Number(sql.get`SELECT count(*) AS n FROM parked_changes WHERE merchant_id = ${merchantId}`?.n ?? 0)
    },

    async setExportPause(merchantId, pause) {
      sql.run`INSERT INTO export_pauses (merchant_id, reason, until, since)
        VALUES (${merchantId}, ${pause.reason}, ${pause.until === null ? null : ms(pause.until)}, ${Date.now()})
        ON CONFLICT (merchant_id) DO UPDATE SET reason = excluded.reason, until = excluded.until, since = excluded.since`
    },

    async getExportPause(merchantId) {
      const row = sql.get`SELECT * FROM export_pauses WHERE merchant_id = ${merchantId} AND (until IS NULL OR until > ${Date.now()})`
      return row ? toExportPause(row, codec) : null
    },

    async clearExportPause(merchantId) {
      sql.run`DELETE FROM export_pauses WHERE merchant_id = ${merchantId}`
    },
  }
}
