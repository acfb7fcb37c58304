/**
 * The SQLite connection every SQLite part shares, on node:sqlite. Every call is synchronous
 * and blocks the event loop, so each one is a single short statement or a short
 * transaction. The service and the CLI may open the same file at once: WAL lets readers run
 * beside the writer, and busy_timeout makes a writer wait for the other process's write
 * instead of failing. SQLite serves one instance only, so its clock is this process's clock.
 */
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { DatabaseSync, type SQLInputValue, type SQLTagStore, type StatementSync } from 'node:sqlite'
import { AppError } from '../../errors.ts'
import { clampLimit, decodeCursor } from '../shared/paging.ts'
import type { Codec, Row } from '../shared/rows.ts'

export interface SqliteStoreOptions {
  /** File path, or `:memory:`. The parent folder is created when missing. */
  path: string
  /** How long a write waits for another connection's write lock. Default 5000 ms. */
  busyTimeoutMs?: number
}

export const codec: Codec = {
  date: (value) => new Date(Number(value)),
  json: (value) => (value === null || value === undefined ? null : JSON.parse(String(value))),
}

const SQLITE_BUSY = 5
const SQLITE_LOCKED = 6
// Only uniqueness is a conflict; a CHECK or NOT NULL failure is a bug and stays as it is.
const SQLITE_CONSTRAINT_PRIMARYKEY = 1555
const SQLITE_CONSTRAINT_UNIQUE = 2067
// Errors that say the file itself cannot be used: full disk, I/O, corrupt, not a database...
const SQLITE_UNAVAILABLE = new Set([8 /* READONLY */, 10 /* IOERR */, 11 /* CORRUPT */, 13 /* FULL */, 14 /* CANTOPEN */, 26 /* NOTADB */])

export function mapSqliteError(err: unknown): unknown {
  if (err instanceof AppError) return err
  const e = err as { code?: unknown; errcode?: unknown; message?: unknown }
  if (e.code === 'ERR_INVALID_STATE') return new AppError('store.unavailable', 'State store is closed', { cause: err })
  if (e.code !== 'ERR_SQLITE_ERROR' || typeof e.errcode !== 'number') return err
  // Extended result codes carry the primary code in the low byte.
  const primary = e.errcode & 0xff
  const message = `State store: ${String(e.message)}`
  if (primary === SQLITE_BUSY || primary === SQLITE_LOCKED) return new AppError('store.busy', message, { cause: err })
  if (e.errcode === SQLITE_CONSTRAINT_PRIMARYKEY || e.errcode === SQLITE_CONSTRAINT_UNIQUE) return new AppError('store.conflict', message, { cause: err })
  if (SQLITE_UNAVAILABLE.has(primary)) return new AppError('store.unavailable', message, { cause: err })
  return err
}

function openDatabase(path: string, busyTimeoutMs: number): DatabaseSync {
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
    // `timeout` is SQLite's busy_timeout.
    const db = new DatabaseSync(path, { timeout: busyTimeoutMs, enableForeignKeyConstraints: true })
    try {
      db.exec('PRAGMA journal_mode = WAL')
      db.exec('PRAGMA foreign_keys = ON')
      // In WAL mode NORMAL survives a crash of the process; only a power loss can drop the last commits.
      db.exec('PRAGMA synchronous = NORMAL')
    } catch (err) {
      db.close()
      throw err
    }
    return db
  } catch (err) {
    const mapped = mapSqliteError(err)
    if (mapped instanceof AppError) throw mapped
    throw new AppError('store.unavailable', `Cannot open the SQLite state store at ${path}`, { cause: err })
  }
}

/** What each SQLite part is built from. */
export interface SqliteContext {
  db: DatabaseSync
  /** Tagged templates bind every ${value} as a parameter and cache the prepared statement. */
  sql: SQLTagStore
  /** For the few statements whose text is built at run time (patches, filters, paging). */
  prepare(text: string): StatementSync
  /**
   * Run `fn` in one write transaction. Nested calls join the outer one, so a part's write
   * helper can serve both its own call and a batch.
   */
  transaction<T>(fn: () => T): T
  /**
   * Takes the next `count` numbers of a counter that never repeats a number and returns the
   * first of them: the block is `first … first + count - 1`. Inside a transaction.
   */
  takeCounters(name: string, count: number): number
}

export const bool = (value: boolean): number => (value ? 1 : 0)
export const ms = (date: Date): number => date.getTime()
export const nullable = (value: string | null | undefined): string | null => value ?? null
/** Many values as one parameter: `IN (SELECT value FROM json_each(?))`. */
export const jsonList = (values: readonly unknown[]): string => JSON.stringify(values)

export function openSqlite(options: SqliteStoreOptions): SqliteContext {
  const db = openDatabase(options.path, options.busyTimeoutMs ?? 5000)
  const sql = db.createTagStore(500)
  const prepared = new Map<string, StatementSync>()
  const prepare = (text: string): StatementSync => {
    let statement = prepared.get(text)
    if (!statement) prepared.set(text, (statement = db.prepare(text)))
    return statement
  }

  // IMMEDIATE takes the write lock up front: a transaction that reads and later writes
  // would otherwise fail with SQLITE_BUSY at once, instead of waiting, when another
  // process writes in between.
  function transaction<T>(fn: () => T): T {
    if (db.isTransaction) return fn()
    db.exec('BEGIN IMMEDIATE')
    try {
      const result = fn()
      db.exec('COMMIT')
      return result
    } catch (err) {
      if (db.isTransaction) db.exec('ROLLBACK')
      throw err
    }
  }

  function takeCounters(name: string, count: number): number {
    const row = sql.get`INSERT INTO counters (name, value) VALUES (${name}, ${count})
      ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value RETURNING value`
    return Number(row!.value) - count + 1
  }

  return { db, sql, prepare, transaction, takeCounters }
}

/**
 * A newest-first page of `table` (sorted by `at`-like `timeColumn`, then id) for one merchant
 * with an extra `filter` (a trusted SQL fragment) and its parameters.
 */
export function newestFirst(
  ctx: SqliteContext,
  query: { table: string; timeColumn?: string; filter?: string; params?: SQLInputValue[] },
  merchantId: string,
  options: { cursor?: string | null; limit?: number },
): { rows: Row[]; limit: number } {
  const time = query.timeColumn ?? 'at'
  const limit = clampLimit(options.limit)
  const cursor = decodeCursor(options.cursor)
  const after = cursor ? `AND (${time}, id) < (?, ?)` : ''
  const params: SQLInputValue[] = [merchantId, ...(query.params ?? []), ...(cursor ? [ms(cursor.at), cursor.id] : []), limit + 1]
  const rows = ctx.prepare(`SELECT * FROM ${query.table} WHERE merchant_id = ? ${query.filter ?? ''} ${after}
    ORDER BY ${time} DESC, id DESC LIMIT ?`).all(...params)
  return { rows, limit }
}
