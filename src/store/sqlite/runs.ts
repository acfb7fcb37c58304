/** SQLite: job runs with an owner and a heartbeat. */
import type { SQLInputValue } from 'node:sqlite'
import { AppError } from '../../errors.ts'
import { newId } from '../shared/ids.ts'
import { toPage } from '../shared/paging.ts'
import { DEFAULT_RUN_OWNER, DEFAULT_RUN_TTL_MS, jobRunAssignments } from '../shared/queries.ts'
import { toJobRun, toJson } from '../shared/rows.ts'
import type { RunStore } from '../types/index.ts'
import { bool, codec, ms, newestFirst, type SqliteContext } from './db.ts'

export function sqliteRuns(ctx: SqliteContext): RunStore {
  const { sql } = ctx
  return {
    async claimJobRun(merchantId, kind, options) {
      const owner = options.owner ?? DEFAULT_RUN_OWNER
      const ttlMs = options.ttlMs ?? DEFAULT_RUN_TTL_MS
      return ctx.transaction(() => {
        const at = Date.now()
        const live = sql.get`SELECT * FROM job_runs WHERE merchant_id = ${merchantId} AND kind = ${kind} AND status IN ('queued', 'running')`
        if (live) {
          const heartbeat = Number(live.heartbeat_at ?? live.updated_at)
          if (heartbeat > at - ttlMs) return { claimed: false as const, running: toJobRun(live, codec) }
          // The owner stopped beating: the run (and its checkpoint) changes hands.
          const row = sql.get`UPDATE job_runs SET owner = ${owner}, heartbeat_at = ${at}, updated_at = ${at} WHERE id = ${String(live.id)} RETURNING *`
          return { claimed: true as const, run: toJobRun(row!, codec), takenOver: true }
        }
        const row = sql.get`INSERT INTO job_runs (id, merchant_id, kind, status, dry_run, api_calls, owner, heartbeat_at, created_at, updated_at)
          VALUES (${newId(at)}, ${merchantId}, ${kind}, 'queued', ${bool(options.dryRun)}, 0, ${owner}, ${at}, ${at}, ${at}) RETURNING *`
        return { claimed: true as const, run: toJobRun(row!, codec), takenOver: false }
      })
    },

    async heartbeatJobRun(id, owner) {
      const at = Date.now()
      return sql.run`UPDATE job_runs SET heartbeat_at = ${at} WHERE id = ${id} AND owner = ${owner} AND status IN ('queued', 'running')`.changes > 0
    },

    async updateJobRun(id, patch, options = {}) {
      const assignments = jobRunAssignments(patch)
      const sets = [...assignments.map((a) => `${a.column} = ?`), 'updated_at = ?']
      const values = assignments.map((a): SQLInputValue => {
        if (a.type === 'json') return toJson(a.value)
        if (a.type === 'date') return a.value === null ? null : ms(a.value as Date)
        return a.value as SQLInputValue
      })
      return ctx.transaction(() => {
        const current = sql.get`SELECT owner FROM job_runs WHERE id = ${id}`
        if (!current) throw new AppError('not-found', `No job run ${id}`)
        if (options.owner !== undefined && current.owner !== options.owner) {
          throw new AppError('store.fenced', `Job run ${id} now belongs to ${String(current.owner)}, not ${options.owner}`)
        }
        const row = ctx.prepare(`UPDATE job_runs SET ${sets.join(', ')} WHERE id = ? RETURNING *`).get(...values, Date.now(), id)
        return toJobRun(row!, codec)
      })
    },

    async getJobRun(merchantId, id) {
      const row = sql.get`SELECT * FROM job_runs WHERE merchant_id = ${merchantId} AND id = ${id}`
      return row ? toJobRun(row, codec) : null
    },

    async getLatestJobRun(merchantId, kind) {
      const row = sql.get`SELECT * FROM job_runs WHERE merchant_id = ${merchantId} AND kind = ${kind}
        ORDER BY created_at DESC, id DESC LIMIT 1`
      return row ? toJobRun(row, codec) : null
    },

    async listJobRuns(merchantId, options = {}) {
      const query = options.kind === undefined
        ? { table: 'job_runs', timeColumn: 'created_at' }
        : { table: 'job_runs', timeColumn: 'created_at', filter: 'AND kind = ?', params: [options.kind] }
      const { rows, limit } = newestFirst(ctx, query, merchantId, options)
      return toPage(rows.map((row) => toJobRun(row, codec)), limit, (run) => run.createdAt)
    },
  }
}
