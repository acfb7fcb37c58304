/** PostgreSQL: retention, each kind deleted in chunks so no statement holds locks for long. */
import { emptyPurgeCounts, PURGE_CHUNK, purgeDates } from '../shared/queries.ts'
import type { HousekeepingStore, PurgeCounts } from '../types/index.ts'
import type { PostgresContext } from './db.ts'

const KINDS: Record<keyof PurgeCounts, { table: string; key: string; where: string }> = {
  traces: { table: 'traces', key: 'id', where: 'at < $1' },
  resolvedErrors: { table: 'record_errors', key: 'id', where: 'resolved_at IS NOT NULL AND resolved_at < $1' },
  webhookIds: { table: 'webhook_ids', key: 'id', where: 'expires_at < $1' },
  oauthStates: { table: 'oauth_states', key: 'state', where: 'expires_at < $1' },
  runs: { table: 'job_runs', key: 'id', where: "status IN ('completed', 'failed') AND finished_at IS NOT NULL AND finished_at < $1" },
  audit: { table: 'audit_log', key: 'id', where: 'at < $1' },
}

export function postgresHousekeeping({ pool }: PostgresContext): HousekeepingStore {
  return {
    async purge(options) {
      const before = purgeDates(options)
      const counts = emptyPurgeCounts()
      for (const kind of Object.keys(KINDS) as Array<keyof PurgeCounts>) {
        const date = before[kind]
        if (date === undefined) continue
        const { table, key, where } = KINDS[kind]
        for (;;) {
          const result = await pool.query(
            `DELETE FROM ${table} WHERE ${key} IN (SELECT ${key} FROM ${table} WHERE ${where} LIMIT ${PURGE_CHUNK})`, [date])
          const deleted = result.rowCount ?? 0
          counts[kind] += deleted
          if (deleted < PURGE_CHUNK) break
        }
      }
      return counts
    },
  }
}
