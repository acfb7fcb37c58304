/**
 * PostgreSQL: settings and their change feed. A sequence alone would let a save that took
 * number 5 commit before the one that took 4, and a poller past 5 would never see 4; so
 * saves take their number under a transaction-scoped advisory lock held until commit, and
 * become visible in number order. Saves are rare; the lock costs nothing that matters.
 */
import { AppError } from '../../errors.ts'
import { clampLimit } from '../shared/paging.ts'
import { toSettings, toSettingsChange, type Row } from '../shared/rows.ts'
import type { SettingsStore } from '../types/index.ts'
import { codec, lockMerchantLinks, one, rows, type PostgresContext } from './db.ts'

/** Key of the advisory lock that orders settings saves ("sfsettin" in ASCII). */
const SETTINGS_LOCK = '8315460641568876910'

export function postgresSettings(ctx: PostgresContext): SettingsStore {
  const { pool } = ctx
  return {
    async getSettings(merchantId) {
      const row = await one(pool, 'SELECT * FROM merchant_settings WHERE merchant_id = $1', [merchantId])
      return row ? toSettings(row, codec) : null
    },

    async saveSettings(merchantId, settings, expectedVersion) {
      const values = [merchantId, JSON.stringify(settings.import), JSON.stringify(settings.export), new Date()]
      const row = await ctx.transaction(async (client): Promise<Row | undefined> => {
        await client.query('SELECT pg_advisory_xact_lock($1)', [SETTINGS_LOCK])
        if (expectedVersion === undefined) {
          return one(client,
            `INSERT INTO merchant_settings (merchant_id, import_settings, export_settings, version, change_seq, updated_at)
              VALUES ($1, $2::jsonb, $3::jsonb, 1, nextval('settings_change_seq'), $4)
              ON CONFLICT (merchant_id) DO UPDATE SET import_settings = excluded.import_settings,
                export_settings = excluded.export_settings, version = merchant_settings.version + 1,
                change_seq = excluded.change_seq, updated_at = excluded.updated_at
              RETURNING *`, values)
        }
        if (expectedVersion === 0) {
          // Version 0 means "I saw no settings": only a first save may succeed.
          return one(client,
            `INSERT INTO merchant_settings (merchant_id, import_settings, export_settings, version, change_seq, updated_at)
              VALUES ($1, $2::jsonb, $3::jsonb, 1, nextval('settings_change_seq'), $4) ON CONFLICT (merchant_id) DO NOTHING RETURNING *`, values)
        }
        return one(client,
          `UPDATE merchant_settings SET import_settings = $2::jsonb, export_settings = $3::jsonb, version = version + 1,
              change_seq = nextval('settings_change_seq'), updated_at = $4
            WHERE merchant_id = $1 AND version = $5 RETURNING *`, [...values, expectedVersion])
      })
      if (!row) throw new AppError('store.conflict', `Settings of merchant ${merchantId} are no longer at version ${expectedVersion}`)
      return toSettings(row, codec)
    },

    async listSettingsChanges(afterSeq, limit) {
      const found = await rows(pool,
        'SELECT merchant_id, version, change_seq FROM merchant_settings WHERE change_seq > $1 ORDER BY change_seq LIMIT $2',
        [afterSeq, clampLimit(limit, 500)])
      return found.map(toSettingsChange)
    },

    async latestSettingsChangeSeq() {
      return Number((await one(pool, 'SELECT coalesce(max(change_seq), 0) AS seq FROM merchant_settings'))?.seq ?? 0)
    },

    async clearMerchantSyncState(merchantId) {
      await ctx.transaction(async (client) => {
        await lockMerchantLinks(client, merchantId)
        for (const table of ['record_links', 'field_states', 'export_versions', 'replay_checkpoints', 'replay_requests', 'traces', 'record_errors', 'export_pauses', 'sync_health', 'export_health']) {
          await client.query(`DELETE FROM ${table} WHERE merchant_id = $1`, [merchantId])
        }
      })
    },
  }
}
