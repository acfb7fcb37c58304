/**
 * PostgreSQL: replay ids and generic checkpoints, written only under a current lease fence.
 * The check and the write are one statement: the lease row is read FOR SHARE, so a new
 * holder's acquire (an UPDATE of that row) waits until the write has committed, and a write
 * that comes after the acquire sees the new fence and is refused.
 */
import { fencedError } from '../shared/errors.ts'
import { toJson, toReplayRequest } from '../shared/rows.ts'
import type { CheckpointStore, LeaseFence } from '../types/index.ts'
import { codec, one, type PostgresContext, type Queryable } from './db.ts'

/** The lease row, when held with the fence, locked against a change of holder until commit. */
const held = (name: string, fence: string): string =>
  `SELECT 1 FROM leases WHERE name = ${name} AND fence = ${fence} AND expires_at > clock_timestamp() FOR SHARE`

/**
 * Throws store.fenced unless `lease` is held, unexpired, with its fence. Inside a transaction:
 * the lease row stays locked until commit, so the writes after it are as safe as one statement.
 */
export async function assertFence(client: Queryable, lease: LeaseFence, what: string): Promise<void> {
  if (!(await one(client, held('$1', '$2'), [lease.name, lease.fence]))) throw fencedError(what, lease)
}

async function writeReplayId(q: Queryable, merchantId: string, channel: string, replayId: number, lease: LeaseFence, force: boolean): Promise<boolean> {
  const row = await one(q,
    `WITH held AS (${held('$4', '$5')}),
      saved AS (
        INSERT INTO replay_checkpoints (merchant_id, channel, replay_id, updated_at)
          SELECT $1, $2, $3, clock_timestamp() FROM held
        ON CONFLICT (merchant_id, channel) DO UPDATE SET replay_id = excluded.replay_id, updated_at = excluded.updated_at
          WHERE $6::boolean OR excluded.replay_id > replay_checkpoints.replay_id
        RETURNING 1)
    SELECT (SELECT count(*) FROM held) AS held, (SELECT count(*) FROM saved) AS saved`,
    [merchantId, channel, replayId, lease.name, lease.fence, force])
  return Number(row?.held ?? 0) > 0
}

export function postgresCheckpoints(ctx: PostgresContext): CheckpointStore {
  const { pool } = ctx
  return {
    async getReplayId(merchantId, channel) {
      const row = await one(pool, 'SELECT replay_id FROM replay_checkpoints WHERE merchant_id = $1 AND channel = $2', [merchantId, channel])
      return row ? Number(row.replay_id) : null
    },

    async saveReplayId(merchantId, channel, replayId, options) {
      const held = await writeReplayId(pool, merchantId, channel, replayId, options.lease, options.force === true)
      if (!held) throw fencedError(`the replay id of ${merchantId} ${channel}`, options.lease)
    },

    async requestReplay(merchantId, channel, replayId) {
      await pool.query(
        `INSERT INTO replay_requests (merchant_id, channel, replay_id, requested_at) VALUES ($1, $2, $3, clock_timestamp())
          ON CONFLICT (merchant_id) DO UPDATE SET channel = excluded.channel, replay_id = excluded.replay_id, requested_at = excluded.requested_at`,
        [merchantId, channel, replayId])
    },

    async takeReplayRequest(merchantId, options = {}) {
      return ctx.transaction(async (client) => {
        const row = await one(client, 'DELETE FROM replay_requests WHERE merchant_id = $1 RETURNING *', [merchantId])
        if (!row) return null
        const request = toReplayRequest(row, codec)
        if (options.lease && !(await writeReplayId(client, merchantId, request.channel, request.replayId, options.lease, true))) {
          throw fencedError(`the replay request of ${merchantId}`, options.lease)
        }
        return request
      })
    },

    async getCheckpoint(name) {
      const row = await one(pool, 'SELECT value FROM checkpoints WHERE name = $1', [name])
      return row ? codec.json(row.value) : null
    },

    async saveCheckpoint(name, value, lease) {
      const row = await one(pool,
        `WITH held AS (${held('$3', '$4')}),
          saved AS (
            INSERT INTO checkpoints (name, value, lease_name, fence, updated_at)
              SELECT $1, $2::jsonb, $3, $4, clock_timestamp() FROM held
            ON CONFLICT (name) DO UPDATE SET value = excluded.value, lease_name = excluded.lease_name,
              fence = excluded.fence, updated_at = excluded.updated_at
            RETURNING 1)
        SELECT (SELECT count(*) FROM held) AS held, (SELECT count(*) FROM saved) AS saved`,
        [name, toJson(value ?? null), lease.name, lease.fence])
      if (Number(row?.held ?? 0) === 0) throw fencedError(`checkpoint ${name}`, lease)
    },
  }
}
