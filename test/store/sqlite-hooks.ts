/** The SQLite backends' contract hooks (inline and threaded store on the same kind of file). */
import { DatabaseSync } from 'node:sqlite'
import type { BackendHooks } from './contract/index.ts'

/** `seedLinks` straight into the file through a connection of its own (one statement). */
export function sqliteHooks(path: string): BackendHooks {
  return {
    async seedLinks(merchantId, count) {
      const db = new DatabaseSync(path, { timeout: 5000 })
      try {
        db.prepare(`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?)
          INSERT INTO record_links (merchant_id, record_id, sobject, user_id, email, email_norm, updated_at)
          SELECT ?, printf('003%012d', i), 'Contact', 'u' || i, 'user' || i || '@example.com', 'user' || i || '@example.com', ? FROM n`)
          .run(count, merchantId, Date.now())
      } finally {
        db.close()
      }
    },
  }
}
