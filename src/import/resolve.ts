/**
 * Which Cohort user a record is: its link first, then its email (a batch lookup, cached per
 * merchant in an LRU). Emails are compared trimmed and lower-cased, as Cohort does.
 */
import { LRUCache } from 'lru-cache'
import { chunks, mapConcurrently } from '../batches.ts'
import { LOOKUP_CHUNK, type CallOptions, type CohortClient } from '../cohort/index.ts'
import { normalizeEmail } from '../store/index.ts'

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/
const LOOKUPS_IN_FLIGHT = 4

/** A usable email, normalised; or why not. */
export function checkEmail(value: unknown): { ok: true; email: string; normalized: string } | { ok: false; reason: 'missing-email' | 'invalid-email' } {
  if (value === null || value === undefined || (typeof value === 'string' && value.trim() === '')) return { ok: false, reason: 'missing-email' }
  if (typeof value !== 'string' || value.length > 254 || !EMAIL.test(value.trim())) return { ok: false, reason: 'invalid-email' }
  return { ok: true, email: value.trim(), normalized: normalizeEmail(value)! }
}

export interface UserDirectory {
  /** User ids by normalised email, for those Cohort knows (from the cache, then one lookup). */
  find(merchantId: string, normalizedEmails: string[], options?: CallOptions): Promise<Map<string, string>>
  remember(merchantId: string, normalizedEmail: string, userId: string): void
  forget(merchantId: string, normalizedEmail: string): void
}

export function createUserDirectory(cohort: CohortClient, options: { max?: number; ttlMs?: number } = {}): UserDirectory {
  const cache = new LRUCache<string, string>({ max: options.max ?? 200_000, ttl: options.ttlMs ?? 600_000 })
  const keyOf = (merchantId: string, email: string) => `${merchantId}\u0000${email}`
  return {
    async find(merchantId, emails, callOptions) {
      const found = new Map<string, string>()
      const missing: string[] = []
      for (const email of new Set(emails)) {
        const hit = cache.get(keyOf(merchantId, email))
        if (hit) found.set(email, hit)
        else missing.push(email)
      }
      // Lookups of LOOKUP_CHUNK emails, up to LOOKUPS_IN_FLIGHT at a time (a share of
      // thousands of new records waits for a quarter of the round trips); none started after
      // one failed, as the whole find fails.
      await mapConcurrently(chunks(missing, LOOKUP_CHUNK), LOOKUPS_IN_FLIGHT, async (slice) => {
        for (const user of await cohort.lookupUsers(merchantId, slice, callOptions)) {
          const email = normalizeEmail(user.email)!
          found.set(email, user.id)
          cache.set(keyOf(merchantId, email), user.id)
        }
      })
      return found
    },
    remember: (merchantId, email, userId) => void cache.set(keyOf(merchantId, email), userId),
    forget: (merchantId, email) => void cache.delete(keyOf(merchantId, email)),
  }
}
