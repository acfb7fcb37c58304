/**
 * SQLite: parked export changes and the export pause. Parking merges in memory inside the
 * write transaction, which no other writer can interleave with; reads, merges and writes a
 * whole batch at once.
 */
import { coalesceParkChanges, mergeParked } from '../shared/batches.ts'
import { clampKeysetLimit } from '../shared/paging.ts'
import { toExportPause, toParkedChange } from '../shared/rows.ts'
import type { ParkedAck, ParkedProperty, ParkedStore } from '../types/index.ts'
import { codec, jsonList, ms, type SqliteContext } from './db.ts'

/** Delete applied entries, only those whose seq is still the one peeked (one parked again meanwhile stays). */
export function deleteParked({ sql }: SqliteContext, merchantId: string, acks: ParkedAck[]): number {
  if (acks.length === 0) return 0
  return Number(sql.run`DELETE FROM parked_changes WHERE merchant_id = ${merchantId}
    AND (key, seq) IN (SELECT value ->> 'key', value ->> 'seq' FROM json_each(${JSON.stringify(acks.map(({ key, seq }) => ({ key, seq })))}))`.changes)
}

export function sqliteParked(ctx: SqliteContext): ParkedStore {
  const { sql } = ctx
  return {
    async parkExportChanges(merchantId, changes) {
      if (changes.length === 0) return 0
      return ctx.transaction(() => {
        const input = coalesceParkChanges(changes)
        // Batch-shaped: one read of the entries already parked, the merge in memory, one block of
        // seq numbers and one upsert (a spill parks thousands of users at once).
        const stored = new Map<string, string>()
        for (const row of sql.all`SELECT key, properties FROM parked_changes
          WHERE merchant_id = ${merchantId} AND key IN (SELECT value FROM json_each(${jsonList(input.map((c) => c.key))}))`) {
          stored.set(String(row.key), String(row.properties))
        }
        const writes: Array<{ key: string; properties: string }> = []
        for (const change of input) {
          const old = stored.get(change.key)
          const merged = JSON.stringify(mergeParked(old === undefined ? {} : (codec.json(old) as Record<string, ParkedProperty>), change.properties))
          if (merged !== old) writes.push({ key: change.key, properties: merged })
        }
        if (writes.length === 0) return 0
        const first = ctx.takeCounters('parked_changes', writes.length)
        const at = Date.now()
        // A new entry takes its seq as its position; an existing one keeps its position.
        sql.run`INSERT INTO parked_changes (merchant_id, key, position, seq, properties, parked_at, updated_at)
          SELECT ${merchantId}, j.value ->> 'key', j.value ->> 'seq', j.value ->> 'seq', j.value ->> 'properties', ${at}, ${at}
          FROM json_each(${JSON.stringify(writes.map((w, i) => ({ ...w, seq: first + i })))}) AS j WHERE true
          ON CONFLICT (merchant_id, key) DO UPDATE SET properties = excluded.properties, seq = excluded.seq, updated_at = excluded.updated_at`
        return writes.length
      })
    },

    async peekParkedChanges(merchantId, limit, after) {
      return sql.all`SELECT * FROM parked_changes WHERE merchant_id = ${merchantId} AND position > ${after ?? -1}
        ORDER BY position LIMIT ${clampKeysetLimit(limit)}`.map((row) => toParkedChange(row, codec))
    },

    async ackParkedChanges(merchantId, acks) {
      return deleteParked(ctx, merchantId, acks)
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
