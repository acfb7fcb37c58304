/**
 * The Cohort internal API client (contracts §4), used by import and reconcile. Every response
 * is checked with zod. 5xx, 429 (honouring Retry-After) and network failures are retried with
 * backoff and jitter; 401, 404 and 417 are not. Errors carry a code and their cause.
 * Connections are reused: Node's fetch keeps them alive in its global pool.
 */
import { LRUCache } from 'lru-cache'
import type { z } from 'zod'
import { chunks } from '../batches.ts'
import type { Secret } from '../config.ts'
import { AppError, type ErrorCode } from '../errors.ts'
import type { Logger } from '../logger.ts'
import { retry, type RetryOptions } from '../retry.ts'
import {
  BatchResponse,
  ErrorBody,
  PropertyDefinition,
  PropertyList,
  User,
  UserList,
  UserPage,
  type BatchOperation,
  type BatchResult,
  type PropertyType,
} from './schemas.ts'

export const LOOKUP_CHUNK = 1000
export const BATCH_CHUNK = 500
export const PAGE_LIMIT = 1000

export interface CohortClientOptions {
  baseUrl: string
  token: Secret
  logger: Logger
  /** Per attempt. Default 30 000 ms. */
  timeoutMs?: number
  /** Passed to the retry helper (retries, delays). Default: 5 retries from 200 ms. */
  retry?: Pick<RetryOptions, 'retries' | 'minDelayMs' | 'maxDelayMs' | 'maxRetryAfterMs'>
  /** Property definitions cached per merchant. Default 10 000 merchants, 10 minutes. */
  propertyCache?: { max?: number; ttlMs?: number }
}

/**
 * Every call takes an optional abort signal: an aborted call (a consumer shutting down, say)
 * stops waiting and retrying at once and rejects with `aborted`.
 */
export interface CallOptions {
  signal?: AbortSignal | undefined
}

export interface CohortClient {
  /** Users with these emails (any number: sent in chunks of 1000). */
  lookupUsers(merchantId: string, emails: string[], options?: CallOptions): Promise<User[]>
  /** A user, or null when Cohort does not know it. */
  getUser(merchantId: string, userId: string, options?: CallOptions): Promise<User | null>
  /** Every user of the merchant, page by page. */
  listUsers(merchantId: string, options?: { pageSize?: number } & CallOptions): AsyncIterable<User>
  /**
   * One page of the merchant's users from `cursor` (null: the first page), with the cursor of
   * the next (null after the last): for work that resumes where it stopped (the export backfill).
   */
  listUsersPage(merchantId: string, cursor: string | null, options?: { pageSize?: number } & CallOptions): Promise<{ users: User[]; nextCursor: string | null }>
  /** Creates and updates with `source: "salesforce"` (sent in chunks of 500); results in order. */
  batchUsers(merchantId: string, operations: BatchOperation[], options?: CallOptions): Promise<BatchResult[]>
  /** The merchant's property definitions (cached); `fresh` reads them again (a settings save names properties just made in Cohort). */
  listProperties(merchantId: string, options?: CallOptions & { fresh?: boolean }): Promise<PropertyDefinition[]>
  /**
   * The property `key`, created when missing (once: definitions are cached). An existing
   * property of another type is a `cohort.property-conflict`.
   */
  ensureProperty(merchantId: string, definition: PropertyDefinition, options?: CallOptions): Promise<PropertyDefinition>
  /** Forget cached definitions (all merchants, or one). */
  forgetProperties(merchantId?: string): void
}

const CODE_BY_STATUS: Record<number, ErrorCode> = { 401: 'cohort.unauthorized', 403: 'cohort.unauthorized', 404: 'cohort.not-found', 429: 'cohort.rate-limited' }

function parseRetryAfter(header: string | null): number | undefined {
  if (header === null) return undefined
  const seconds = Number(header)
  if (Number.isFinite(seconds) && seconds >= 0) return seconds
  const at = Date.parse(header)
  return Number.isNaN(at) ? undefined : Math.max(0, (at - Date.now()) / 1000)
}

export function createCohortClient(options: CohortClientOptions): CohortClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, '')
  const logger = options.logger.child({ component: 'cohort-client' })
  const timeoutMs = options.timeoutMs ?? 30_000
  const cache = new LRUCache<string, Map<string, PropertyDefinition>>({ max: options.propertyCache?.max ?? 10_000, ttl: options.propertyCache?.ttlMs ?? 600_000 })

  /** One call, no retry: the answer parsed, or an AppError saying what went wrong. */
  async function once<S extends z.ZodType>(method: string, path: string, schema: S, body: unknown, signal: AbortSignal | undefined): Promise<z.infer<S>> {
    const what = `${method} ${path.split('?')[0]}`
    let res: Response
    try {
      res = await fetch(`${baseUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${options.token.reveal()}`, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs),
      })
    } catch (err) {
      if (signal?.aborted) throw new AppError('aborted', `Cohort ${what} aborted`, { cause: err })
      throw new AppError('cohort.unavailable', `Cohort ${what} failed: ${(err as Error).message}`, { cause: err })
    }
    const text = await res.text().catch(() => '')
    let json: unknown
    try {
      json = text === '' ? undefined : JSON.parse(text)
    } catch (err) {
      if (res.ok) throw new AppError('cohort.invalid-response', `Cohort ${what} answered invalid JSON`, { cause: err })
    }
    if (res.ok) {
      const parsed = schema.safeParse(json)
      if (!parsed.success) throw new AppError('cohort.invalid-response', `Cohort ${what} answered an unexpected shape: ${parsed.error.issues[0]?.message ?? ''}`, { cause: parsed.error })
      return parsed.data
    }
    const refusal = ErrorBody.safeParse(json)
    const detail = refusal.success ? `${refusal.data.code}: ${refusal.data.message}` : `HTTP ${res.status}`
    const cause = refusal.success ? refusal.data : { status: res.status }
    if (res.status >= 500) throw new AppError('cohort.unavailable', `Cohort ${what} failed: ${detail}`, { cause })
    const code = CODE_BY_STATUS[res.status] ?? 'cohort.rejected'
    throw new AppError(code, `Cohort ${what} refused: ${detail}`, { cause, retryAfterSeconds: res.status === 429 ? parseRetryAfter(res.headers.get('retry-after')) ?? 1 : undefined })
  }

  async function call<S extends z.ZodType>(method: string, path: string, schema: S, body: unknown, callOptions: CallOptions | undefined): Promise<z.infer<S>> {
    const signal = callOptions?.signal
    try {
      return await retry(() => once(method, path, schema, body, signal), {
        retries: 5,
        minDelayMs: 200,
        maxDelayMs: 10_000,
        ...options.retry,
        ...(signal ? { signal } : {}),
        onRetry: ({ attempt, delayMs, error }) => logger.warn({ attempt, delayMs, code: (error as AppError).code, reason: (error as Error).message }, 'Cohort call failed, retrying'),
      })
    } catch (err) {
      // Aborted before the first attempt or in a backoff sleep, the retry helper rejects with the
      // signal's reason (whatever the caller gave, a bare AbortError by default); mid-request,
      // once() says `aborted`. One answer wherever the abort lands: `aborted`, the reason kept.
      if (signal?.aborted && !(err instanceof AppError && err.code === 'aborted')) throw new AppError('aborted', `Cohort ${method} ${path.split('?')[0]} aborted`, { cause: err })
      throw err
    }
  }

  const merchantPath = (merchantId: string) => `/internal/merchants/${encodeURIComponent(merchantId)}`

  async function definitions(merchantId: string, refresh: boolean, callOptions: CallOptions | undefined): Promise<Map<string, PropertyDefinition>> {
    const cached = refresh ? undefined : cache.get(merchantId)
    if (cached) return cached
    const { data } = await call('GET', `${merchantPath(merchantId)}/user-properties`, PropertyList, undefined, callOptions)
    const map = new Map(data.map((d) => [d.key, d]))
    cache.set(merchantId, map)
    return map
  }

  function checkType(found: PropertyDefinition, wanted: PropertyType): PropertyDefinition {
    if (found.type !== wanted) {
      throw new AppError('cohort.property-conflict', `Cohort property "${found.key}" exists with type ${found.type}, not ${wanted}`, { field: found.key })
    }
    return found
  }

  async function usersPage(merchantId: string, cursor: string | null, pageOptions: { pageSize?: number } & CallOptions): Promise<{ users: User[]; nextCursor: string | null }> {
    const limit = Math.min(PAGE_LIMIT, Math.max(1, pageOptions.pageSize ?? PAGE_LIMIT))
    const query = `limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`
    const page: z.infer<typeof UserPage> = await call('GET', `${merchantPath(merchantId)}/users?${query}`, UserPage, undefined, pageOptions)
    return { users: page.data, nextCursor: page.nextCursor }
  }

  return {
    async lookupUsers(merchantId, emails, callOptions) {
      const found: User[] = []
      for (const chunk of chunks(emails, LOOKUP_CHUNK)) {
        const { data } = await call('POST', `${merchantPath(merchantId)}/users/lookup`, UserList, { emails: chunk }, callOptions)
        found.push(...data)
      }
      return found
    },

    async getUser(merchantId, userId, callOptions) {
      try {
        return await call('GET', `${merchantPath(merchantId)}/users/${encodeURIComponent(userId)}`, User, undefined, callOptions)
      } catch (err) {
        if (err instanceof AppError && err.code === 'cohort.not-found' && (err.cause as { code?: string } | undefined)?.code === 'user.not-found') return null
        throw err
      }
    },

    async *listUsers(merchantId, listOptions = {}) {
      let cursor: string | null = null
      do {
        const page: { users: User[]; nextCursor: string | null } = await usersPage(merchantId, cursor, listOptions)
        yield* page.users
        cursor = page.nextCursor
      } while (cursor)
    },

    listUsersPage: (merchantId, cursor, pageOptions = {}) => usersPage(merchantId, cursor, pageOptions),

    async batchUsers(merchantId, operations, callOptions) {
      const results: BatchResult[] = []
      for (const chunk of chunks(operations, BATCH_CHUNK)) {
        const response = await call('POST', `${merchantPath(merchantId)}/users/batch`, BatchResponse, { source: 'salesforce', operations: chunk }, callOptions)
        if (response.results.length !== chunk.length) {
          throw new AppError('cohort.invalid-response', `Cohort batch answered ${response.results.length} results for ${chunk.length} operations`)
        }
        results.push(...response.results)
      }
      return results
    },

    async listProperties(merchantId, callOptions) {
      return [...(await definitions(merchantId, callOptions?.fresh === true, callOptions)).values()]
    },

    async ensureProperty(merchantId, definition, callOptions) {
      const known = (await definitions(merchantId, false, callOptions)).get(definition.key)
      if (known) return checkType(known, definition.type)
      try {
        // The contract promises a 201 only: an empty answer means the definition as sent.
        const created = (await call('POST', `${merchantPath(merchantId)}/user-properties`, PropertyDefinition.optional(), definition, callOptions)) ?? definition
        ;(await definitions(merchantId, false, callOptions)).set(created.key, created)
        return created
      } catch (err) {
        // Someone else created it meanwhile: read it back and check its type.
        if (!(err instanceof AppError && (err.cause as { code?: string } | undefined)?.code === 'property.already-exists')) throw err
        const now = (await definitions(merchantId, true, callOptions)).get(definition.key)
        if (!now) throw err
        return checkType(now, definition.type)
      }
    },

    forgetProperties(merchantId) {
      if (merchantId === undefined) cache.clear()
      else cache.delete(merchantId)
    },
  }
}
