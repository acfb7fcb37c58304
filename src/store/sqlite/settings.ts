/**
 * SQLite: settings and their change feed. A save takes max(change_seq) + 1 in its own
 * statement, which holds the write lock, so numbers are unique and visible in order.
 */
import { AppError } from '../../errors.ts'
import { clampLimit } from '../shared/paging.ts'
import { toSettings, toSettingsChange, type Row } from '../shared/rows.ts'
import type { SettingsStore } from '../types/index.ts'
import { codec, type SqliteContext } from './db.ts'

export function sqliteSettings(ctx: SqliteContext): SettingsStore {
  const { sql } = ctx
  return {
    async getSettings(merchantId) {
      const row = sql.get`SELECT * FROM merchant_settings WHERE merchant_id = ${merchantId}`
      return row ? toSettings(row, codec) : null
    },

    async saveSettings(merchantId, settings, expectedVersion) {
      const imp = JSON.stringify(settings.import)
      const exp = JSON.stringify(settings.export)
      const at = Date.now()
      let row: Row | undefined
      if (expectedVersion === undefined) {
        row = sql.get`INSERT INTO merchant_settings (merchant_id, import_settings, export_settings, version, change_seq, updated_at)
          VALUES (${merchantId}, ${imp}, ${exp}, 1, (SELECT coalesce(max(change_seq), 0) + 1 FROM merchant_settings), ${at})
          ON CONFLICT (merchant_id) DO UPDATE SET import_settings = excluded.import_settings,
            export_settings = excluded.export_settings, version = merchant_settings.version + 1,
            change_seq = excluded.change_seq, updated_at = excluded.updated_at
          RETURNING *`
      } else if (expectedVersion === 0) {
        // Version 0 means "I saw no settings": only a first save may succeed.
        row = sql.get`INSERT INTO merchant_settings (merchant_id, import_settings, export_settings, version, change_seq, updated_at)
          VALUES (${merchantId}, ${imp}, ${exp}, 1, (SELECT coalesce(max(change_seq), 0) + 1 FROM merchant_settings), ${at})
          ON CONFLICT (merchant_id) DO NOTHING RETURNING *`
      } else {
        row = sql.get`UPDATE merchant_settings SET import_settings = ${imp}, export_settings = ${exp},
            version = version + 1, change_seq = (SELECT max(change_seq) + 1 FROM merchant_settings), updated_at = ${at}
          WHERE merchant_id = ${merchantId} AND version = ${expectedVersion} RETURNING *`
      }
      if (!row) throw new AppError('store.conflict', `Settings of merchant ${merchantId} are no longer at version ${expectedVersion}`)
      return toSettings(row, codec)
    },

    async listSettingsChanges(afterSeq, limit) {
      return sql.all`SELECT merchant_id, version, change_seq FROM merchant_settings WHERE change_seq > ${afterSeq}
        ORDER BY change_seq LIMIT ${clampLimit(limit, 500)}`.map(toSettingsChange)
    },

    async latestSettingsChangeSeq() {
      return Number(sql.get`SELECT coalesce(max(change_seq), 0) AS seq FROM merchant_settings`?.seq ?? 0)
    },

    async clearMerchantSyncState(merchantId) {
      ctx.transaction(() => {
        for (const table of ['record_links', 'field_states', 'export_versions', 'replay_checkpoints', 'replay_requests', 'traces', 'record_errors', 'export_pauses', 'sync_health', 'export_health']) {
          ctx.prepare(`DELETE FROM ${table} WHERE merchant_id = ?`).run(merchantId)
        }
      })
    },
  }
}
