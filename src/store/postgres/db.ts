/**
 * The PostgreSQL pool every PostgreSQL part shares. Statements that must be atomic are single
 * statements (upserts with a WHERE, DELETE ... RETURNING) wherever possible, so most calls
 * need no explicit transaction and hold no connection between round trips. Batches are one
 * transaction of a few set-based statements (rows travel as one JSON parameter), never a loop
 * of single-row round trips. Leases, heartbeats and pauses use the server's clock.
 */
import pg from 'pg'
import { AppError } from '../../errors.ts'
import { clampLimit, decodeCursor } from '../shared/paging.ts'
import type { Codec, Row } from '../shared/rows.ts'

export interface PostgresStoreOptions {
  url: string
  /** Schema to create and use instead of the default search_path (one per test file, say). */
  schema?: string
  /** Pool size. Default 10. */
  max?: number
}

// pg already parses timestamptz into Date and jsonb into values.
export const codec: Codec = {
  date: (value) => (value instanceof Date ? value : new Date(String(value))),
  json: (value) => value ?? null,
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'EAI_AGAIN'])
// admin/crash shutdown, cannot connect now, too many connections, bad credentials, no such database
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300', '28000', '28P01', '3D000'])
// serialization failure, deadlock, lock not available, statement timeout
const BUSY_SQLSTATES = new Set(['40001', '40P01', '55P03', '57014'])
// pg reports a lost or closed connection by message only.
const CONNECTION_MESSAGES = /connection terminated|timeout exceeded when trying to connect|after calling end on the pool|not queryable/i

export function mapPgError(err: unknown): unknown {
  if (err instanceof AppError) return err
  const code = (err as { code?: unknown }).code
  const text = err instanceof Error ? err.message : String(err)
  const message = `State store: ${text}`
  if (typeof code === 'string') {
    if (CONNECTION_CODES.has(code) || code.startsWith('08') || UNAVAILABLE_SQLSTATES.has(code)) return new AppError('store.unavailable', message, { cause: err })
    if (BUSY_SQLSTATES.has(code)) return new AppError('store.busy', message, { cause: err })
    if (code === '23505') return new AppError('store.conflict', message, { cause: err })
  }
  if (CONNECTION_MESSAGES.test(text)) return new AppError('store.unavailable', message, { cause: err })
  return err
}

/** The pool or one transaction's client: both run statements. */
export interface Queryable {
  query(text: string, values?: unknown[]): Promise<pg.QueryResult>
}

export const rows = async (q: Queryable, text: string, values: unknown[] = []): Promise<Row[]> => (await q.query(text, values)).rows as Row[]
export const one = async (q: Queryable, text: string, values: unknown[] = []): Promise<Row | undefined> => (await rows(q, text, values))[0]
/**
 * Rows of `table` of merchant $1 whose `column` is one of the keys in $2 (a text array), as
 * one index probe per key. A plain `= ANY($2)` is planned from statistics, and a table
 * loaded a moment ago has none: the planner then reads every row of the merchant. A
 * LATERAL subquery that cannot be flattened (OFFSET 0) leaves only the probe.
 */
export const probeByKeys = (table: string, column: string, select = '*'): string =>
  `SELECT t.* FROM unnest($2::text[]) AS k(key) CROSS JOIN LATERAL (SELECT ${select} FROM ${table} WHERE merchant_id = $1 AND ${column} = k.key OFFSET 0) t`

/** Keys once each: a probe per key would otherwise return a row once per repeat. */
export const unique = (keys: readonly string[]): string[] => [...new Set(keys)]

/** Many rows as one parameter, read back with jsonb_to_recordset. */
export const jsonRows = (items: readonly object[]): string => JSON.stringify(items)

/** What each PostgreSQL part is built from. */
export interface PostgresContext {
  pool: pg.Pool
  schema: string | undefined
  /** Run `fn` in one transaction on one client; a client whose ROLLBACK failed is destroyed. */
  transaction<T>(fn: (client: pg.PoolClient) => Promise<T>, client?: pg.PoolClient): Promise<T>
  isClosed(): boolean
  markClosed(): void
}

export function openPostgres(options: PostgresStoreOptions): PostgresContext {
  const { schema } = options
  // The name goes into SQL and into a startup option, so only plain identifiers are allowed.
  if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new AppError('config.invalid', `Invalid state store schema name: ${JSON.stringify(schema)}`)
  }
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? 10,
    // Without it a connect to a black-holed host waits forever instead of failing.
    connectionTimeoutMillis: 10_000,
    // JIT compiles a statement whose estimated cost is high, 10-25 ms each time: a loss for
    // short statements like these (a batch's index probes are estimated high on purpose).
    options: `-c jit=off${schema === undefined ? '' : ` -c search_path=${schema}`}`,
  })
  // An idle client lost its server: the pool drops it, and the next query reconnects or
  // fails with store.unavailable. Without a listener the error would crash the process.
  pool.on('error', () => undefined)
  let closed = false

  async function transaction<T>(fn: (client: pg.PoolClient) => Promise<T>, client?: pg.PoolClient): Promise<T> {
    const c = client ?? (await pool.connect())
    let broken = false
    try {
      await c.query('BEGIN')
      const result = await fn(c)
      await c.query('COMMIT')
      return result
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {
        broken = true
      })
      throw err
    } finally {
      if (!client) c.release(broken)
    }
  }

  return { pool, schema, transaction, isClosed: () => closed, markClosed: () => void (closed = true) }
}

/**
 * A newest-first page of `table` (sorted by `timeColumn`, then id) for one merchant, with an
 * extra `filter` (a trusted SQL fragment whose parameters start at $2).
 */
export async function newestFirst(
  q: Queryable,
  query: { table: string; timeColumn?: string; filter?: string; params?: unknown[] },
  merchantId: string,
  options: { cursor?: string | null; limit?: number },
): Promise<{ found: Row[]; limit: number }> {
  const time = query.timeColumn ?? 'at'
  const limit = clampLimit(options.limit)
  const cursor = decodeCursor(options.cursor)
  const params: unknown[] = [merchantId, ...(query.params ?? [])]
  let after = ''
  if (cursor) {
    params.push(cursor.at, cursor.id)
    after = `AND (${time}, id) < ($${params.length - 1}::timestamptz, $${params.length})`
  }
  params.push(limit + 1)
  const found = await rows(q, `SELECT * FROM ${query.table} WHERE merchant_id = $1 ${query.filter ?? ''} ${after}
    ORDER BY ${time} DESC, id DESC LIMIT $${params.length}`, params)
  return { found, limit }
}

/**
 * Serialise the link writers of one merchant until the transaction ends, so a link plan
 * reads exactly the links it may change (no concurrent writer can add one meanwhile).
 */
export async function lockMerchantLinks(client: Queryable, merchantId: string): Promise<void> {
  await client.query("SELECT pg_advisory_xact_lock(hashtextextended('record_links:' || $1, 0))", [merchantId])
}

/**
 * A keyset page query, pinned to its index. Right after a bulk load (a first full load of
 * a million links, say) the table has no statistics yet, and the planner then reads every
 * row after the cursor and sorts them for each page: a walk becomes quadratic. With sorting
 * disabled for this one statement, the only plan left is the ordered index range scan.
 */
export async function keysetRows(ctx: PostgresContext, text: string, values: unknown[]): Promise<Row[]> {
  const client = await ctx.pool.connect()
  let broken = false
  try {
    await client.query('BEGIN READ ONLY; SET LOCAL enable_sort = off')
    const found = await rows(client, text, values)
    await client.query('COMMIT')
    return found
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {
      broken = true
    })
    throw err
  } finally {
    client.release(broken)
  }
}
