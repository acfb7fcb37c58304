/** What every part of the contract suite shares: the stores under test and small builders. */
import { randomUUID } from 'node:crypto'
import type { Test } from 'tap'
import type { Connection, FieldState, LeaseFence, Store } from '../../../src/store/index.ts'

export type MakeStore = () => Promise<Store>

export interface ContractContext {
  /** A migrated store shared by the parts (they work on merchants of their own). */
  store: Store
  /** Another instance on the same database, closed when `t` ends: a second process. */
  open(t: Test): Promise<Store>
  makeStore: MakeStore
  /** The backend's test-only bulk seed (see BackendHooks). */
  seedLinks: SeedLinks
}

/**
 * Insert `count` links of one merchant straight in SQL, far faster than any API: link i has
 * record id `linkRecordId(i)`, user id `u{i}` and email `user{i}@example.com`.
 */
export type SeedLinks = (merchantId: string, count: number) => Promise<void>

/** What a backend's runner gives the contract beside the store factory. */
export interface BackendHooks {
  seedLinks: SeedLinks
}

/** The record id of link i in seeded data: `003` and i zero-padded to 12 digits. */
export const linkRecordId = (i: number): string => `003${String(i).padStart(12, '0')}`

export const uid = (prefix: string): string => `${prefix}-${randomUUID()}`

export function connection(merchantId: string, overrides: Partial<Connection> = {}): Connection {
  return {
    merchantId,
    state: 'connected',
    environment: 'production',
    orgId: '00D000000000001',
    userId: '005000000000001',
    username: 'admin@example.com',
    instanceUrl: 'https://example.my.salesforce.com',
    accessTokenEnc: 'enc:access',
    refreshTokenEnc: 'enc:refresh',
    tokenKeyId: 'key-1',
    connectedAt: new Date(1_700_000_000_000),
    updatedAt: new Date(1_700_000_000_000),
    ...overrides,
  }
}

export function fieldState(merchantId: string, recordId: string, field: string, value: unknown, changedAtMs: number, sequence: number): FieldState {
  return { merchantId, recordId, field, value, changedAt: new Date(changedAtMs), sequence, direction: 'import' }
}

/** Take a fresh lease for a test and return its fence. */
export async function takeLease(store: Store, owner = 'owner-1', ttlMs = 60_000): Promise<LeaseFence> {
  const name = uid('lease')
  const grant = await store.acquireLease(name, owner, ttlMs)
  if (!grant) throw new Error('a fresh lease must be free')
  return { name, fence: grant.fence }
}

/**
 * Poll `fn` until it returns something other than null/false, or fail after `timeoutMs`.
 * Waits on the store's own clock (a TTL running out) without fake clocks or fixed sleeps.
 */
export async function eventually<T>(fn: () => Promise<T | null | false>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await fn()
    if (value !== null && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}
