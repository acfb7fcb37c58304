/**
 * Cursors that move only under a lease: CDC replay ids and generic checkpoints. A write is
 * refused with `store.fenced` unless the lease is held, unexpired by the database's clock,
 * with the fence given; the check and the write are one atomic step.
 */
import type { LeaseFence } from './leases.ts'

export interface SaveReplayIdOptions {
  /** The lease of the merchant's stream, with the fence this instance was granted. */
  lease: LeaseFence
  /** Move backwards too (cdc-replay from an older id). */
  force?: boolean
}

/** A `cdc-replay` request: resubscribe the merchant's stream from `replayId`. */
export interface ReplayRequest {
  merchantId: string
  channel: string
  replayId: number
  requestedAt: Date
}

export interface CheckpointStore {
  getReplayId(merchantId: string, channel: string): Promise<number | null>
  /**
   * Save the replay id of a channel: moves only forward unless `force`. Throws
   * `store.fenced` when `lease` is not currently held with that fence.
   */
  saveReplayId(merchantId: string, channel: string, replayId: number, options: SaveReplayIdOptions): Promise<void>
  /** Record a cdc-replay request; a later request replaces an untaken one. */
  requestReplay(merchantId: string, channel: string, replayId: number): Promise<void>
  /**
   * Take (and delete) the merchant's pending replay request. With `lease`, the request's
   * replay id is also force-saved as the channel's checkpoint in the same transaction, so a
   * crash right after taking loses nothing (`store.fenced` when the lease is not current,
   * and the request stays).
   */
  takeReplayRequest(merchantId: string, options?: { lease?: LeaseFence }): Promise<ReplayRequest | null>
  /** A generic checkpoint (reconcile's position, say); null when never saved. */
  getCheckpoint(name: string): Promise<unknown>
  /** Save a JSON value as checkpoint `name`, fenced like saveReplayId. */
  saveCheckpoint(name: string, value: unknown, lease: LeaseFence): Promise<void>
}
