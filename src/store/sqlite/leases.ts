/**
 * SQLite: fenced leases. SQLite serves one instance, so the process clock is the store's
 * clock. Every call is one statement: two takers racing for a free lease cannot both win.
 */
import { toLeaseInfo } from '../shared/rows.ts'
import type { LeaseStore } from '../types/index.ts'
import { codec, type SqliteContext } from './db.ts'

export function sqliteLeases({ sql }: SqliteContext): LeaseStore {
  return {
    async acquireLease(name, owner, ttlMs) {
      const now = Date.now()
      const row = sql.get`INSERT INTO leases (name, owner, fence, expires_at) VALUES (${name}, ${owner}, 1, ${now + ttlMs})
        ON CONFLICT (name) DO UPDATE SET
          fence = CASE WHEN leases.owner = excluded.owner AND leases.expires_at > ${now} THEN leases.fence ELSE leases.fence + 1 END,
          owner = excluded.owner, expires_at = excluded.expires_at
        WHERE leases.owner = excluded.owner OR leases.expires_at <= ${now}
        RETURNING fence, expires_at`
      return row ? { name, owner, fence: Number(row.fence), expiresAt: codec.date(row.expires_at) } : null
    },

    async renewLease(name, owner, fence, ttlMs) {
      const now = Date.now()
      return sql.run`UPDATE leases SET expires_at = ${now + ttlMs}
        WHERE name = ${name} AND owner = ${owner} AND fence = ${fence} AND expires_at > ${now}`.changes > 0
    },

    async releaseLease(name, owner) {
      // The row stays: its fence is where the next holder's starts.
      const now = Date.now()
      sql.run`UPDATE leases SET expires_at = ${now} WHERE name = ${name} AND owner = ${owner} AND expires_at > ${now}`
    },

    async getLease(name) {
      const row = sql.get`SELECT *, expires_at > ${Date.now()} AS held FROM leases WHERE name = ${name}`
      return row ? toLeaseInfo(row, codec) : null
    },
  }
}
