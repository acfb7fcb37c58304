/**
 * Reading many records of one object, whichever API fits: the one entry point of the first
 * full load and of the resyncs.
 *
 * ```ts
 * readRecords(conn, { object, fields, where?, queryAll?, afterId? }, { bulkThreshold, pageSize?, signal?, onStart?, onApiCall? })
 *   : AsyncIterable<SalesforceRecord[]>
 * ```
 *
 * - `SELECT COUNT()` first (with the same filter); more than `bulkThreshold` records
 *   (`config.salesforce.bulkThreshold`, `SALESFORCE_BULK_THRESHOLD`) go through one Bulk API
 *   2.0 query job (src/salesforce/bulk.ts), otherwise REST keyset pages (`selectPage`). A
 *   field Bulk cannot read (compound address or location) keeps the read on REST.
 * - Batches of at most `pageSize` (2000) records, in Id order on both paths, so the Id of a
 *   batch's last record is a checkpoint: `afterId` resumes after it. On the Bulk path a resume
 *   is a new job (`… AND Id > afterId ORDER BY Id`): a job's locators are not kept across a
 *   crash, and a new job costs one call.
 * - Records look the same on both paths: `attributes`, `Id`, `SystemModstamp`, the fields by
 *   their describe names and with REST's JSON types (null, booleans, numbers, text), plus
 *   `IsDeleted` with `queryAll` (deleted records included).
 * - `where` is a SOQL condition built by the bridge (a `SystemModstamp >= …` window, say),
 *   never user input; names in `object` and `fields` are checked.
 * - Transient failures (`salesforce.unavailable`) are retried per call with backoff; the
 *   Bulk path re-reads a page by its locator and skips the records already handed out.
 * - `signal` stops the read (a running Bulk job is aborted); the iterator then throws
 *   `aborted`. Leaving the loop early (break) cleans up the same way.
 */
import type { Connection } from 'jsforce'
import { AppError } from '../errors.ts'
import { retry } from '../retry.ts'
import { bulkQuery, fieldTypesOf, type BulkQueryOptions } from './bulk.ts'
import { apiName, countRecords, selectList, selectPage, whereClause, type SalesforceRecord } from './query.ts'

/** Records per batch (and per REST page) unless `pageSize` says otherwise. */
export const READ_PAGE_SIZE = 2000

/** What to read. */
export interface ReadQuery {
  object: string
  /** Fields besides `Id` and `SystemModstamp` (always read). */
  fields: string[]
  /** A SOQL condition (built by the bridge, not user input). */
  where?: string | undefined
  /** Deleted records too (`queryAll`); each record then carries `IsDeleted`. Default false. */
  queryAll?: boolean | undefined
  /** Only records with a greater Id (resume after a checkpoint). */
  afterId?: string | null | undefined
}

export interface ReadOptions {
  /** More records than this (by COUNT()) read through Bulk API 2.0. */
  bulkThreshold: number
  /** Records per batch. Default {@link READ_PAGE_SIZE}. */
  pageSize?: number | undefined
  signal?: AbortSignal | undefined
  /** Told the count and the path before the first batch (awaited). */
  onStart?: ((info: { total: number; path: 'rest' | 'bulk' }) => void | Promise<void>) | undefined
  /** Told of every Salesforce API call the read makes (count, describe, pages, job calls). */
  onApiCall?: (() => void) | undefined
  /** Retries per call of a transient failure. Default 5. */
  retries?: number | undefined
  /** Bulk job tuning (polling, rows per results page); tests make it fast. */
  bulk?: Pick<BulkQueryOptions, 'pollMinMs' | 'pollMaxMs' | 'pollTimeoutMs' | 'maxRecords'> | undefined
}

/** Compound field types Bulk API 2.0 does not read (their components it does). */
const NOT_IN_BULK = new Set(['address', 'location'])

/** The records of `query`, in batches, through REST or Bulk API 2.0 by count. */
export async function* readRecords(conn: Connection, query: ReadQuery, options: ReadOptions): AsyncGenerator<SalesforceRecord[]> {
  const object = apiName(query.object)
  const fields = query.queryAll ? [...query.fields, 'IsDeleted'] : [...query.fields]
  const pageSize = Math.max(1, Math.trunc(options.pageSize ?? READ_PAGE_SIZE))
  const { signal } = options
  const filter = { where: query.where, queryAll: query.queryAll ?? false }
  const attempt = <T>(fn: () => Promise<T>) => {
    const call = async () => {
      options.onApiCall?.()
      return fn()
    }
    return retry(call, { retries: options.retries ?? 5, minDelayMs: 500, maxDelayMs: 15_000, ...(signal ? { signal } : {}) })
  }
  try {
    const total = await attempt(() => countRecords(conn, object, { ...filter, where: whereOf(query.where, query.afterId) }))
    let bulk = total > options.bulkThreshold
    let types: Map<string, { name: string; type: string }> | undefined
    if (bulk) {
      types = await attempt(() => fieldTypesOf(conn, object))
      bulk = !fields.some((f) => NOT_IN_BULK.has(types!.get(f.toLowerCase())?.type ?? ''))
    }
    await options.onStart?.({ total, path: bulk ? 'bulk' : 'rest' })
    if (bulk) {
      const soql = `SELECT ${selectList(fields)} FROM ${object}${whereClause(query.where, query.afterId)} ORDER BY Id ASC`
      yield* bulkQuery(conn, { soql, object, operation: query.queryAll ? 'queryAll' : 'query', types: types! }, {
        ...options.bulk, batchSize: pageSize, signal, onApiCall: options.onApiCall, retries: options.retries,
      })
      return
    }
    let afterId = query.afterId ?? null
    for (;;) {
      const page = await attempt(() => selectPage(conn, object, fields, afterId, pageSize, filter))
      if (page.length > 0) yield page
      if (page.length < pageSize) return
      afterId = page[page.length - 1]!.Id
    }
  } catch (err) {
    if (signal?.aborted && !(err instanceof AppError && err.code === 'aborted')) throw new AppError('aborted', `read of ${object} stopped`, { cause: err })
    throw err
  }
}

/** The count's condition: the filter and the resume point together. */
function whereOf(where: string | undefined, afterId: string | null | undefined): string | undefined {
  const clause = whereClause(where, afterId)
  return clause === '' ? undefined : clause.slice(' WHERE '.length)
}
