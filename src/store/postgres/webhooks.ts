/** PostgreSQL: webhook ids seen, until they expire (by the server's clock). */
import type { WebhookStore } from '../types/index.ts'
import type { PostgresContext } from './db.ts'

export function postgresWebhooks({ pool }: PostgresContext): WebhookStore {
  return {
    async rememberWebhookId(id, expiresAt) {
      // One statement: a concurrent second caller waits on the first's row, then finds it unexpired.
      const result = await pool.query(
        `INSERT INTO webhook_ids (id, expires_at) VALUES ($1, $2)
          ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at WHERE webhook_ids.expires_at <= clock_timestamp()`,
        [id, expiresAt])
      return (result.rowCount ?? 0) > 0
    },

    async hasWebhookId(id) {
      const result = await pool.query('SELECT 1 FROM webhook_ids WHERE id = $1 AND expires_at > clock_timestamp()', [id])
      return (result.rowCount ?? 0) > 0
    },
  }
}
