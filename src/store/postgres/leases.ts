/**
 * PostgreSQL: fenced leases on the server's clock (clock_timestamp(), never the caller's).
 * Acquire is one upsert: of two takers racing for a free lease, the second waits on the
 * first's row and then finds it held.
 */
import { toLeaseInfo } from '../shared/rows.ts'
import type { LeaseStore } from '../types/index.ts'
import { codec, one, type PostgresContext } from './db.ts'

const TTL = "$3::float8 * interval '1 millisecond'"

export function postgresLeases({ pool }: PostgresContext): LeaseStore {
  return {
    async acquireLease(name, owner, ttlMs) {
      const row = await one(pool,
        `INSERT INTO leases (name, owner, fence, expires_at) VALUES ($1, $2, 1, clock_timestamp() + ${TTL})
          ON CONFLICT (name) DO UPDATE SET
            fence = CASE WHEN leases.owner = excluded.owner AND leases.expires_at > clock_timestamp() THEN leases.fence ELSE leases.fence + 1 END,
            owner = excluded.owner, expires_at = excluded.expires_at
          WHERE leases.owner = excluded.owner OR leases.expires_at <= clock_timestamp()
          RETURNING fence, expires_at`,
        [name, owner, ttlMs])
      return row ? { name, owner, fence: Number(row.fence), expiresAt: codec.date(row.expires_at) } : null
    },

    async renewLease(name, owner, fence, ttlMs) {
      const result = await pool.query(
        `UPDATE leases SET expires_at = clock_timestamp() + $4::float8 * interval '1 millisecond'
          WHERE name = $1 AND owner = $2 AND fence = $3 AND expires_at > clock_timestamp()`,
        [name, owner, fence, ttlMs])
      return (result.rowCount ?? 0) > 0
    },

    async releaseLease(name, owner) {
      // The row stays: its fence is where the next holder's starts.
      await pool.query('UPDATE leases SET expires_at = clock_timestamp() WHERE name = $1 AND owner = $2 AND expires_at > clock_timestamp()', [name, owner])
    },

    async getLease(name) {
      const row = await one(pool, 'SELECT *, expires_at > clock_timestamp() AS held FROM leases WHERE name = $1', [name])
      return row ? toLeaseInfo(row, codec) : null
    },
  }
}
