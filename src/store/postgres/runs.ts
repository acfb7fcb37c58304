/**
 * PostgreSQL: job runs with an owner and a heartbeat, both judged by the server's clock. The
 * partial unique index decides between racing claims; a takeover is one UPDATE whose WHERE
 * re-checks the heartbeat under the row lock, so two claimers cannot both take a run over.
 */
import { AppError } from '../../errors.ts'
import { newId } from '../shared/ids.ts'
import { toPage } from '../shared/paging.ts'
import { DEFAULT_RUN_OWNER, DEFAULT_RUN_TTL_MS, jobRunAssignments } from '../shared/queries.ts'
import { toJobRun, toJson } from '../shared/rows.ts'
import type { RunStore } from '../types/index.ts'
import { codec, newestFirst, one, type PostgresContext } from './db.ts'

export function postgresRuns(ctx: PostgresContext): RunStore {
  const { pool } = ctx
  return {
    async claimJobRun(merchantId, kind, options) {
      const owner = options.owner ?? DEFAULT_RUN_OWNER
      const ttlMs = options.ttlMs ?? DEFAULT_RUN_TTL_MS
      // Loop because the live run may finish between the insert and the read.
      for (let attempt = 0; attempt < 5; attempt++) {
        const at = new Date()
        const inserted = await one(pool,
          `INSERT INTO job_runs (id, merchant_id, kind, status, dry_run, api_calls, owner, heartbeat_at, created_at, updated_at)
            VALUES ($1, $2, $3, 'queued', $4, 0, $5, clock_timestamp(), $6, $6)
            ON CONFLICT (merchant_id, kind) WHERE status IN ('queued', 'running') DO NOTHING RETURNING *`,
          [newId(at.getTime()), merchantId, kind, options.dryRun, owner, at])
        if (inserted) return { claimed: true, run: toJobRun(inserted, codec), takenOver: false }
        const taken = await one(pool,
          `UPDATE job_runs SET owner = $3, heartbeat_at = clock_timestamp(), updated_at = $5
            WHERE merchant_id = $1 AND kind = $2 AND status IN ('queued', 'running')
              AND coalesce(heartbeat_at, updated_at) <= clock_timestamp() - $4::float8 * interval '1 millisecond'
            RETURNING *`,
          [merchantId, kind, owner, ttlMs, at])
        if (taken) return { claimed: true, run: toJobRun(taken, codec), takenOver: true }
        const live = await one(pool, `SELECT * FROM job_runs WHERE merchant_id = $1 AND kind = $2 AND status IN ('queued', 'running')`, [merchantId, kind])
        if (live) return { claimed: false, running: toJobRun(live, codec) }
      }
      throw new AppError('store.busy', `Could not claim a ${kind} run for merchant ${merchantId}: runs keep changing`)
    },

    async heartbeatJobRun(id, owner) {
      const result = await pool.query(
        `UPDATE job_runs SET heartbeat_at = clock_timestamp() WHERE id = $1 AND owner = $2 AND status IN ('queued', 'running')`, [id, owner])
      return (result.rowCount ?? 0) > 0
    },

    async updateJobRun(id, patch, options = {}) {
      const assignments = jobRunAssignments(patch)
      const sets = assignments.map((a, i) => `${a.column} = $${i + 1}${a.type === 'json' ? '::jsonb' : ''}`)
      const values: unknown[] = assignments.map((a) => (a.type === 'json' ? toJson(a.value) : a.value))
      sets.push(`updated_at = $${values.length + 1}`)
      values.push(new Date(), id)
      let ownerCheck = ''
      if (options.owner !== undefined) {
        values.push(options.owner)
        ownerCheck = `AND owner = $${values.length}`
      }
      const row = await one(pool, `UPDATE job_runs SET ${sets.join(', ')} WHERE id = $${assignments.length + 2} ${ownerCheck} RETURNING *`, values)
      if (row) return toJobRun(row, codec)
      const current = await one(pool, 'SELECT owner FROM job_runs WHERE id = $1', [id])
      if (!current) throw new AppError('not-found', `No job run ${id}`)
      throw new AppError('store.fenced', `Job run ${id} now belongs to ${String(current.owner)}, not ${options.owner}`)
    },

    async getJobRun(merchantId, id) {
      const row = await one(pool, 'SELECT * FROM job_runs WHERE merchant_id = $1 AND id = $2', [merchantId, id])
      return row ? toJobRun(row, codec) : null
    },

    async getLatestJobRun(merchantId, kind) {
      const row = await one(pool, 'SELECT * FROM job_runs WHERE merchant_id = $1 AND kind = $2 ORDER BY created_at DESC, id DESC LIMIT 1', [merchantId, kind])
      return row ? toJobRun(row, codec) : null
    },

    async listJobRuns(merchantId, options = {}) {
      const query = options.kind === undefined
        ? { table: 'job_runs', timeColumn: 'created_at' }
        : { table: 'job_runs', timeColumn: 'created_at', filter: 'AND kind = $2', params: [options.kind] }
      const { found, limit } = await newestFirst(pool, query, merchantId, options)
      return toPage(found.map((row) => toJobRun(row, codec)), limit, (run) => run.createdAt)
    },
  }
}
