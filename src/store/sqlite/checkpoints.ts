/**
 * SQLite: replay ids and generic checkpoints, written only under a current lease fence. The
 * lease check and the write share one transaction (which holds the write lock), so the lease
 * cannot change hands in between.
 */
import { fencedError } from '../shared/errors.ts'
import { toJson, toReplayRequest } from '../shared/rows.ts'
import type { CheckpointStore, LeaseFence } from '../types/index.ts'
import { bool, codec, type SqliteContext } from './db.ts'

/** Throws store.fenced unless `lease` is held, unexpired, with its fence. Inside a transaction. */
export function assertFence({ sql }: SqliteContext, lease: LeaseFence, what: string): void {
  const held = sql.get`SELECT 1 FROM leases WHERE name = ${lease.name} AND fence = ${lease.fence} AND expires_at > ${Date.now()}`
  if (!held) throw fencedError(what, lease)
}

function writeReplayId(ctx: SqliteContext, merchantId: string, channel: string, replayId: number, force: boolean): void {
  ctx.sql.run`INSERT INTO replay_checkpoints (merchant_id, channel, replay_id, updated_at)
    VALUES (${merchantId}, ${channel}, ${replayId}, ${Date.now()})
    ON CONFLICT (merchant_id, channel) DO UPDATE SET replay_id = excluded.replay_id, updated_at = excluded.updated_at
    WHERE ${bool(force)} OR excluded.replay_id > replay_checkpoints.replay_id`
}

export function sqliteCheckpoints(ctx: SqliteContext): CheckpointStore {
  const { sql } = ctx
  return {
    async getReplayId(merchantId, channel) {
      const row = sql.get`SELECT replay_id FROM replay_checkpoints WHERE merchant_id = ${merchantId} AND channel = ${channel}`
      return row ? Number(row.replay_id) : null
    },

    async saveReplayId(merchantId, channel, replayId, options) {
      ctx.transaction(() => {
        assertFence(ctx, options.lease, `the replay id of ${merchantId} ${channel}`)
        writeReplayId(ctx, merchantId, channel, replayId, options.force === true)
      })
    },

    async requestReplay(merchantId, channel, replayId) {
      sql.run`INSERT INTO replay_requests (merchant_id, channel, replay_id, requested_at) VALUES (${merchantId}, ${channel}, ${replayId}, ${Date.now()})
        ON CONFLICT (merchant_id) DO UPDATE SET channel = excluded.channel, replay_id = excluded.replay_id, requested_at = excluded.requested_at`
    },

    async takeReplayRequest(merchantId, options = {}) {
      return ctx.transaction(() => {
        const row = sql.get`DELETE FROM replay_requests WHERE merchant_id = ${merchantId} RETURNING *`
        if (!row) return null
        const request = toReplayRequest(row, codec)
        if (options.lease) {
          assertFence(ctx, options.lease, `the replay request of ${merchantId}`)
          writeReplayId(ctx, merchantId, request.channel, request.replayId, true)
        }
        return request
      })
    },

    async getCheckpoint(name) {
      const row = sql.get`SELECT value FROM checkpoints WHERE name = ${name}`
      return row ? codec.json(row.value) : null
    },

    async saveCheckpoint(name, value, lease) {
      ctx.transaction(() => {
        assertFence(ctx, lease, `checkpoint ${name}`)
        sql.run`INSERT INTO checkpoints (name, value, lease_name, fence, updated_at)
          VALUES (${name}, ${toJson(value ?? null)}, ${lease.name}, ${lease.fence}, ${Date.now()})
          ON CONFLICT (name) DO UPDATE SET value = excluded.value, lease_name = excluded.lease_name,
            fence = excluded.fence, updated_at = excluded.updated_at`
      })
    },
  }
}
