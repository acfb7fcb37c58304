/**
 * What every part of the store shares: the backend name, the lifecycle calls and the page
 * shapes. Secrets never reach the store in clear: token fields hold ciphertext made by the
 * caller. Everything is keyed by merchant, never by Salesforce org alone.
 */

export type Backend = 'sqlite' | 'postgres'

export type SyncDirection = 'import' | 'export'

/** A newest-first page for people (errors, audit, runs): an opaque cursor to the next page. */
export interface Page<T> {
  data: T[]
  nextCursor: string | null
}

export interface PageOptions {
  cursor?: string | null
  /** 1..1000, default 50. */
  limit?: number
}

/**
 * A keyset page for machines (reconcile walks): rows after `after` in key order, and the key
 * of the last row when more may follow. No OFFSET, so page N costs what page 1 costs.
 */
export interface KeysetPage<T, K> {
  data: T[]
  next: K | null
}

export interface KeysetOptions<K> {
  /** Start after this key; null or missing starts at the beginning. */
  after?: K | null
  /** 1..10000, default 1000. */
  limit?: number
}

/** Options of the walk generators. */
export interface WalkOptions<K> {
  /** Rows fetched per round trip, 1..10000. Default 1000. */
  pageSize?: number
  /** Resume after this key (a reconcile checkpoint, say). */
  after?: K | null
}

export interface LifecycleStore {
  readonly backend: Backend
  /** Create or upgrade the schema. Safe when several processes call it at once. */
  migrate(): Promise<{ applied: number[]; current: number }>
  /** Cheap round trip for /readyz. Throws `store.unavailable` when the store cannot answer. */
  ping(): Promise<void>
  close(): Promise<void>
}
