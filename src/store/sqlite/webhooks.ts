/** SQLite: webhook ids seen, until they expire. */
import type { WebhookStore } from '../types/index.ts'
import { ms, type SqliteContext } from './db.ts'

export function sqliteWebhooks({ sql }: SqliteContext): WebhookStore {
  return {
    async rememberWebhookId(id, expiresAt) {
      // One statement: a second caller finds the row and, unless it expired, changes nothing.
      const row = sql.get`INSERT INTO webhook_ids (id, expires_at) VALUES (${id}, ${ms(expiresAt)})
        ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at WHERE webhook_ids.expires_at <= ${Date.now()}
        RETURNING id`
      return row !== undefined
    },

    async hasWebhookId(id) {
      return sql.get`SELECT 1 AS seen FROM webhook_ids WHERE id = ${id} AND expires_at > ${Date.now()}` !== undefined
    },
  }
}
