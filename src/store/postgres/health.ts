/**
 * PostgreSQL: sync health on the server's clock. A CDC report is one short transaction: the
 * fence check when a lease is given (the lease row stays locked FOR SHARE until commit, as
 * for checkpoints), then the merchant's row locked FOR UPDATE, compared and written, so two
 * reports of one change cannot both count as the change.
 */
import { cdcErrorJson, cdcHealthChanged, noSyncHealth } from '../shared/health.ts'
import { toSyncHealth } from '../shared/rows.ts'
import type { HealthStore } from '../types/index.ts'
import { assertFence } from './checkpoints.ts'
import { codec, one, type PostgresContext, type Queryable } from './db.ts'

/** Move `column` of the merchant's health forward to `at`, never backwards; one statement. */
export async function moveHealthForward(q: Queryable, merchantId: string, column: 'last_event_at' | 'last_import_at', at: Date): Promise<void> {
  await q.query(
    `INSERT INTO sync_health (merchant_id, ${column}, updated_at) VALUES ($1, $2, clock_timestamp())
      ON CONFLICT (merchant_id) DO UPDATE SET ${column} = excluded.${column}, updated_at = excluded.updated_at
      WHERE sync_health.${column} IS NULL OR sync_health.${column} < excluded.${column}`,
    [merchantId, at])
}

export function postgresHealth(ctx: PostgresContext): HealthStore {
  const { pool } = ctx
  return {
    async setCdcHealth(merchantId, health, options = {}) {
      return ctx.transaction(async (client) => {
        if (options.lease) await assertFence(client, options.lease, `the CDC health of ${merchantId}`)
        // The row first, so there is always one to lock (a concurrent first report waits here).
        await client.query('INSERT INTO sync_health (merchant_id, updated_at) VALUES ($1, clock_timestamp()) ON CONFLICT (merchant_id) DO NOTHING', [merchantId])
        const stored = toSyncHealth((await one(client, 'SELECT * FROM sync_health WHERE merchant_id = $1 FOR UPDATE', [merchantId]))!, codec)
        const changed = cdcHealthChanged(stored, health)
        // cdc_since is set on the first report too: null means never reported.
        await client.query(
          `UPDATE sync_health SET cdc_state = $2, cdc_error = $3::jsonb, updated_at = clock_timestamp(),
              cdc_since = CASE WHEN $4::boolean OR cdc_since IS NULL THEN clock_timestamp() ELSE cdc_since END
            WHERE merchant_id = $1`,
          [merchantId, health.state, cdcErrorJson(health.error), changed])
        return changed
      })
    },

    async noteCdcEvent(merchantId, at) {
      await moveHealthForward(pool, merchantId, 'last_event_at', at)
    },

    async getSyncHealth(merchantId) {
      const row = await one(pool, 'SELECT * FROM sync_health WHERE merchant_id = $1', [merchantId])
      return row ? toSyncHealth(row, codec) : noSyncHealth(merchantId)
    },
  }
}
