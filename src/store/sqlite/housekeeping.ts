/**
 * SQLite: retention. Each kind is deleted in chunks, yielding to the event loop between
 * them, so a large purge neither holds the write lock nor blocks the process for long.
 */
import { setImmediate as nextTick } from 'node:timers/promises'
import { emptyPurgeCounts, PURGE_CHUNK, purgeDates } from '../shared/queries.ts'
import type { HousekeepingStore, PurgeCounts } from '../types/index.ts'
import { ms, type SqliteContext } from './db.ts'

/** table, rowid-selecting condition on `?` (the date) */
const KINDS: Record<keyof PurgeCounts, { table: string; where: string }> = {
  traces: { table: 'traces', where: 'at < ?' },
  resolvedErrors: { table: 'record_errors', where: 'resolved_at IS NOT NULL AND resolved_at < ?' },
  webhookIds: { table: 'webhook_ids', where: 'expires_at < ?' },
  oauthStates: { table: 'oauth_states', where: 'expires_at < ?' },
  runs: { table: 'job_runs', where: "status IN ('completed', 'failed') AND finished_at IS NOT NULL AND finished_at < ?" },
  audit: { table: 'audit_log', where: 'at < ?' },
}

export function sqliteHousekeeping(ctx: SqliteContext): HousekeepingStore {
  return {
    async purge(options) {
      const before = purgeDates(options)
      const counts = emptyPurgeCounts()
      for (const kind of Object.keys(KINDS) as Array<keyof PurgeCounts>) {
        const date = before[kind]
        if (date === undefined) continue
        const { table, where } = KINDS[kind]
        const statement = ctx.prepare(`DELETE FROM ${table} WHERE rowid IN (SELECT rowid FROM ${table} WHERE ${where} LIMIT ${PURGE_CHUNK})`)
        for (;;) {
          const deleted = Number(statement.run(ms(date)).changes)
          counts[kind] += deleted
          if (deleted < PURGE_CHUNK) break
          await nextTick()
        }
      }
      return counts
    },
  }
}
