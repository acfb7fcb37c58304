/**
 * Fenced leases: one holder at a time across instances, by the database's clock. Each new
 * holder gets a strictly higher fence; writes that must not come from a stale holder carry
 * it (checkpoints.ts) and are refused once it is no longer current.
 */

/** A lease held, as acquireLease grants it. */
export interface LeaseGrant {
  name: string
  owner: string
  /** Strictly higher for every new holder of this name, never reused (even after release). */
  fence: number
  /** By the database's clock. */
  expiresAt: Date
}

/** What a fenced write carries: the lease name and the fence it was granted. */
export interface LeaseFence {
  name: string
  fence: number
}

/** A lease row as stored, held or not. */
export interface LeaseInfo {
  name: string
  owner: string
  fence: number
  expiresAt: Date
  /** Unexpired by the database's clock (a released lease is not held). */
  held: boolean
}

export interface LeaseStore {
  /**
   * Take `name` for `owner` for `ttlMs`, or renew it when `owner` holds it (same fence);
   * null when someone else holds an unexpired lease. A new holder, after expiry or release,
   * gets a higher fence.
   */
  acquireLease(name: string, owner: string, ttlMs: number): Promise<LeaseGrant | null>
  /**
   * Extend the lease by `ttlMs` from now; true only while `owner` still holds it unexpired
   * with `fence`. After false the owner must stop and acquire again (a new fence).
   */
  renewLease(name: string, owner: string, fence: number, ttlMs: number): Promise<boolean>
  /** Give the lease up now if `owner` holds it; the fence is kept for the next holder to pass. */
  releaseLease(name: string, owner: string): Promise<void>
  /** The lease as stored, or null when never taken. */
  getLease(name: string): Promise<LeaseInfo | null>
}
