/** Page sizes and cursors: newest-first pages for people, keyset pages for machines. */
import { AppError } from '../../errors.ts'
import type { Page } from '../types/index.ts'

export const DEFAULT_LIMIT = 50
export const MAX_LIMIT = 1000
export const DEFAULT_KEYSET_LIMIT = 1000
export const MAX_KEYSET_LIMIT = 10_000

/** Clamp a requested page size to 1..max; missing or not a number means the default. */
export function clampLimit(limit: number | undefined, defaultLimit = DEFAULT_LIMIT, max = MAX_LIMIT): number {
  if (limit === undefined || !Number.isFinite(limit)) return defaultLimit
  return Math.min(max, Math.max(1, Math.trunc(limit)))
}

/** Keyset pages (walks) may be larger: 1..10000, default 1000. */
export function clampKeysetLimit(limit: number | undefined): number {
  return clampLimit(limit, DEFAULT_KEYSET_LIMIT, MAX_KEYSET_LIMIT)
}

export interface Cursor {
  at: Date
  id: string
}

/** Opaque to clients: base64url of [epoch ms, id], the sort key of the last row served. */
export function encodeCursor(at: Date, id: string): string {
  return Buffer.from(JSON.stringify([at.getTime(), id])).toString('base64url')
}

/** Parse a client's cursor; anything we did not make is a `request.invalid`. */
export function decodeCursor(cursor: string | null | undefined): Cursor | null {
  if (cursor === undefined || cursor === null || cursor === '') return null
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch (cause) {
    throw new AppError('request.invalid', 'Invalid page cursor', { field: 'cursor', cause })
  }
  if (!Array.isArray(parsed) || parsed.length !== 2 || !Number.isSafeInteger(parsed[0]) || typeof parsed[1] !== 'string') {
    throw new AppError('request.invalid', 'Invalid page cursor', { field: 'cursor' })
  }
  return { at: new Date(parsed[0] as number), id: parsed[1] }
}

/**
 * Backends fetch `limit + 1` rows; the extra row only tells whether another page exists,
 * which saves a count query. `at` picks the row's sort time (its `at` by default).
 */
export function toPage<T extends { id: string }>(items: T[], limit: number, at: (item: T) => Date = (item) => (item as unknown as { at: Date }).at): Page<T> {
  if (items.length <= limit) return { data: items, nextCursor: null }
  const data = items.slice(0, limit)
  const last = data[data.length - 1]!
  return { data, nextCursor: encodeCursor(at(last), last.id) }
}

/** The keyset counterpart of toPage: rows fetched with `limit + 1`, the next key from the last row kept. */
export function toKeysetPage<T, K>(items: T[], limit: number, key: (item: T) => K): { data: T[]; next: K | null } {
  if (items.length <= limit) return { data: items, next: null }
  const data = items.slice(0, limit)
  return { data, next: key(data[data.length - 1]!) }
}
