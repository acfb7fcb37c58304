/**
 * SQLite: sync health. A CDC report reads the stored health and writes the new one in one
 * transaction (which holds the write lock), after the fence check when a lease is given.
 */
import { cdcErrorJson, cdcHealthChanged, noSyncHealth } from '../shared/health.ts'
import { toSyncHealth } from '../shared/rows.ts'
import type { HealthStore } from '../types/index.ts'
import { assertFence } from './checkpoints.ts'
import { codec, ms, type SqliteContext } from './db.ts'

/** Move `column` of the merchant's health forward to `at`, never backwards. */
export function moveHealthForward({ prepare }: SqliteContext, merchantId: string, column: 'last_event_at' | 'last_import_at', at: Date): void {
  prepare(`INSERT INTO sync_health (merchant_id, ${column}, updated_at) VALUES (?, ?, ?)
    ON CONFLICT (merchant_id) DO UPDATE SET ${column} = excluded.${column}, updated_at = excluded.updated_at
    WHERE sync_health.${column} IS NULL OR sync_health.${column} < excluded.${column}`).run(merchantId, ms(at), Date.now())
}

export function sqliteHealth(ctx: SqliteContext): HealthStore {
  const { sql } = ctx
  return {
    async setCdcHealth(merchantId, health, options = {}) {
      return ctx.transaction(() => {
        if (options.lease) assertFence(ctx, options.lease, `the CDC health of ${merchantId}`)
        const row = sql.get`SELECT * FROM sync_health WHERE merchant_id = ${merchantId}`
        const stored = row ? toSyncHealth(row, codec) : noSyncHealth(merchantId)
        const changed = cdcHealthChanged(stored, health)
        const now = Date.now()
        // Set on the first report too: null means never reported.
        const since = changed || stored.cdcSince === null ? now : ms(stored.cdcSince)
        sql.run`INSERT INTO sync_health (merchant_id, cdc_state, cdc_error, cdc_since, updated_at)
          VALUES (${merchantId}, ${health.state}, ${cdcErrorJson(health.error)}, ${since}, ${now})
          ON CONFLICT (merchant_id) DO UPDATE SET cdc_state = excluded.cdc_state, cdc_error = excluded.cdc_error,
            cdc_since = excluded.cdc_since, updated_at = excluded.updated_at`
        return changed
      })
    },

    async noteCdcEvent(merchantId, at) {
      moveHealthForward(ctx, merchantId, 'last_event_at', at)
    },

    async getSyncHealth(merchantId) {
      const row = sql.get`SELECT * FROM sync_health WHERE merchant_id = ${merchantId}`
      return row ? toSyncHealth(row, codec) : noSyncHealth(merchantId)
    },
  }
}
