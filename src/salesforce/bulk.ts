/**
 * Bulk API 2.0 query jobs, read as a stream: create the job (`query` or `queryAll`), poll
 * its state with backoff until `JobComplete`, then read the results page by page following
 * `Sforce-Locator` (`maxRecords` rows a page), each page's CSV parsed as it arrives
 * (csv-parse) into records handed out in batches of `batchSize`. At no point is more than
 * one batch of records, plus the stream buffers, in memory, whatever the size of the result.
 *
 * Our own loop rather than jsforce's `bulk2.query`: that one pipes every page into one
 * parser (the second page's header breaks it) and never sends `maxRecords`. jsforce is still
 * the connection: its access token, instance URL, API version and `Sforce-Call-Options`, and
 * on a 401 `INVALID_SESSION_ID` its refresh delegate (`conn._refreshDelegate`, which calls the
 * connection factory's single-flight refresh), after which the call is made once more.
 *
 * CSV gives text; values are typed by the object's describe so a record looks as REST gives
 * it: empty → null, `boolean` → true/false, `int`/`double`/`currency`/`percent`/`long` →
 * numbers, `datetime` spelt as REST spells it (`…+0000`), everything else text.
 *
 * The job is cleaned up whatever happens: a completed job is deleted once the read ends, one
 * still running is aborted (`PATCH state: Aborted`) when the read stops early (signal, error,
 * the consumer leaving the loop).
 *
 * The create is not idempotent: one whose answer is lost (timeout, broken connection, 5xx)
 * may have made a job all the same, and creating again blindly would leave that job running
 * unread, counted against the org's Bulk limits. So before the create is tried again the jobs
 * that can be the lost one are looked up and removed ({@link removeOrphans}).
 */
import { Readable } from 'node:stream'
import { parse } from 'csv-parse'
import type { Connection } from 'jsforce'
import { AppError, isRetriable } from '../errors.ts'
import { retry, sleep } from '../retry.ts'
import { SALESFORCE_CALL_TIMEOUT_MS, toSalesforceError, withSalesforceDeadline } from './errors.ts'
import { parseLimitInfo } from './limit-info.ts'
import type { SalesforceRecord } from './query.ts'

/**
 * Emitted on the jsforce Connection for every Bulk call this module makes with fetch (they do
 * not go through jsforce's transport, so a counter hooked there does not see them): the API
 * budget counts them by listening on the connection.
 */
export const BULK_API_CALL = 'bulk-api-call'
export interface BulkApiCall {
  url: string
  /** The answer's `Sforce-Limit-Info` (`api-usage=used/max`), or null. */
  limitInfo: string | null
}

/** A field's describe name and type, by lower-cased name. */
export type FieldTypes = Map<string, { name: string; type: string }>

export interface BulkQuery {
  soql: string
  /** The object queried (record `attributes`). */
  object: string
  operation: 'query' | 'queryAll'
  /** From {@link fieldTypesOf}: how to type the CSV's text. */
  types: FieldTypes
}

export interface BulkQueryOptions {
  /** Records per batch handed out. Default 2000. */
  batchSize?: number | undefined
  /** Rows per results page (`maxRecords`). Default 50 000. */
  maxRecords?: number | undefined
  /** First wait between status reads in ms (then ×1.5). Default 1000. */
  pollMinMs?: number | undefined
  /** Longest wait between status reads in ms. Default 10 000. */
  pollMaxMs?: number | undefined
  /** Longest time a job may take to complete in ms; past it the job is aborted. Default 1 hour. */
  pollTimeoutMs?: number | undefined
  /** Retries per call of a transient failure. Default 5. */
  retries?: number | undefined
  signal?: AbortSignal | undefined
  /** Told of every API call (create, status, page, abort, delete). */
  onApiCall?: (() => void) | undefined
}

type Api = (method: string, path: string, init?: { body?: unknown; accept?: string; signal?: AbortSignal }) => Promise<Response>

interface JobInfo {
  id: string
  state: 'UploadComplete' | 'InProgress' | 'JobComplete' | 'Failed' | 'Aborted'
  errorMessage?: string
}

/** A job as `GET /jobs/query` lists it. */
interface ListedJob extends JobInfo {
  operation?: string
  object?: string
  createdById?: string
  createdDate?: string
  apiVersion?: number
  contentType?: string
  columnDelimiter?: string
  lineEnding?: string
}

const NUMBER_TYPES = new Set(['int', 'double', 'currency', 'percent', 'long'])
/** Longest silence while a results page streams before the read counts as failed. */
const PAGE_IDLE_MS = SALESFORCE_CALL_TIMEOUT_MS
/** Deadline of the clean-up calls (abort, delete), made even when the read's signal has fired. */
const CLEANUP_TIMEOUT_MS = 5_000
/** What every job of this module is created with (the orphan look-up matches on it too). */
const FORMAT = { contentType: 'CSV', columnDelimiter: 'COMMA', lineEnding: 'LF' } as const
/**
 * How much earlier than the lost create (by the server's clock) a job may say it was created:
 * `Date` and `createdDate` are whole seconds, each rounded down.
 */
const CREATED_SLACK_MS = 2_000
/** Pages of `GET /jobs/query` read per look-up at most (each an API call). */
const LIST_PAGES_MAX = 20

/** Jobs this process reads now, by id: an orphan look-up never takes one of them. */
const jobsInUse = new Set<string>()
/** Creates in flight, by instance, version, object and operation: a look-up waits for the others' answers. */
const creating = new Map<string, Set<Promise<unknown>>>()

/** The object's fields by lower-cased name, from describe (one call). */
export async function fieldTypesOf(conn: Connection, object: string): Promise<FieldTypes> {
  try {
    const described = await withSalesforceDeadline(Promise.resolve(conn.describe(object)), `describe ${object}`)
    return new Map(described.fields.map((f) => [f.name.toLowerCase(), { name: f.name, type: String(f.type) }]))
  } catch (err) {
    throw toSalesforceError(err, `describe ${object}`)
  }
}

/** A CSV value as REST would give it. */
function typed(value: string, type: string | undefined): unknown {
  if (value === '') return null
  if (type === 'boolean') return value === 'true'
  // REST writes date-times `…000+0000`, Bulk CSV `…000Z`: one spelling whichever path read it.
  if (type === 'datetime' && value.endsWith('Z')) return `${value.slice(0, -1)}+0000`
  if (type !== undefined && NUMBER_TYPES.has(type)) {
    const n = Number(value)
    return Number.isFinite(n) ? n : value
  }
  return value
}

/** Salesforce's `[{ errorCode, message }]` (or anything else) as an AppError. */
async function errorOf(res: Response, what: string): Promise<AppError> {
  const text = await res.text().catch(() => '')
  let first: { errorCode?: string; message?: string } = {}
  try {
    const body = JSON.parse(text) as unknown
    first = (Array.isArray(body) ? body[0] : body) ?? {}
  } catch {
    first = { message: text.slice(0, 300) }
  }
  const message = `${res.status} ${first.errorCode ?? ''}: ${first.message ?? res.statusText}`.replace(/ : /, ': ')
  if (res.status >= 500 || res.status === 429) return new AppError('salesforce.unavailable', `${what}: ${message}`)
  return toSalesforceError({ errorCode: first.errorCode, message }, what)
}

/** An answer's JSON; one cut off is an outage (retried), not a broken program. */
async function jsonOf<T>(res: Response, what: string): Promise<T> {
  try {
    return (await res.json()) as T
  } catch (err) {
    throw new AppError('salesforce.unavailable', `${what}: the answer broke off: ${(err as Error).message}`, { cause: err })
  }
}

/** One Bulk API call with the connection's session: a 401 refreshes it once and calls again. */
async function call(conn: Connection, method: string, path: string, init: { body?: unknown; accept?: string; signal: AbortSignal; what: string; onApiCall?: (() => void) | undefined }): Promise<Response> {
  for (let refreshed = false; ; refreshed = true) {
    // Read each time: a refresh may move the instance URL as well as the token.
    const url = `${conn.instanceUrl}/services/data/v${conn.version}/jobs/query${path}`
    const startedAt = Date.now()
    const headers: Record<string, string> = { authorization: `Bearer ${conn.accessToken ?? ''}`, accept: init.accept ?? 'application/json' }
    const options = conn._callOptions
    if (options) headers['sforce-call-options'] = Object.entries(options).map(([k, v]) => `${k}=${String(v)}`).join(', ')
    if (init.body !== undefined) headers['content-type'] = 'application/json'
    init.onApiCall?.()
    let res: Response
    try {
      res = await fetch(url, { method, headers, body: init.body === undefined ? null : JSON.stringify(init.body), signal: init.signal })
    } catch (err) {
      throw new AppError('salesforce.unavailable', `${init.what}: ${(err as Error).message}`, { cause: err })
    }
    noteLimits(conn, res)
    conn.emit(BULK_API_CALL, { url, limitInfo: res.headers.get('sforce-limit-info') } satisfies BulkApiCall)
    if (res.status === 401 && !refreshed && conn._refreshDelegate) {
      await res.body?.cancel()
      try {
        await conn._refreshDelegate.refresh(startedAt)
      } catch (err) {
        throw toSalesforceError(err, init.what)
      }
      continue
    }
    if (!res.ok) throw await errorOf(res, init.what)
    return res
  }
}

/** `Sforce-Limit-Info: api-usage=12/100000` into `conn.limitInfo`, as jsforce does for its calls. */
function noteLimits(conn: Connection, res: Response): void {
  const usage = parseLimitInfo(res.headers.get('sforce-limit-info'))
  if (usage) conn.limitInfo = { apiUsage: { used: usage.used, limit: usage.max } }
}

/**
 * The results of one Bulk API 2.0 query job, in batches of records. Throws
 * `salesforce.rejected` when the job fails or is aborted elsewhere, `aborted` when `signal`
 * fires; other failures keep the codes of src/salesforce/errors.ts.
 */
export async function* bulkQuery(conn: Connection, query: BulkQuery, options: BulkQueryOptions = {}): AsyncGenerator<SalesforceRecord[]> {
  const signal = options.signal ?? new AbortController().signal
  const batchSize = Math.max(1, Math.trunc(options.batchSize ?? 2000))
  const maxRecords = Math.max(1, Math.trunc(options.maxRecords ?? 50_000))
  const what = `bulk query of ${query.object}`
  const attempt = <T>(fn: () => Promise<T>) => retry(fn, { retries: options.retries ?? 5, minDelayMs: 500, maxDelayMs: 15_000, signal })
  const api: Api = (method, path, init = {}) =>
    call(conn, method, path, { ...init, signal: init.signal ?? AbortSignal.any([signal, AbortSignal.timeout(SALESFORCE_CALL_TIMEOUT_MS)]), what, onApiCall: options.onApiCall })

  let job: JobInfo | null = null
  try {
    job = await createJob(conn, query, api, attempt)
    const jobId = job.id
    // Poll with backoff: a big extract takes minutes; a status read is an API call.
    const deadline = Date.now() + (options.pollTimeoutMs ?? 3_600_000)
    let wait = options.pollMinMs ?? 1000
    while (job.state !== 'JobComplete') {
      if (job.state === 'Failed') throw new AppError('salesforce.rejected', `${what}: job ${jobId} failed${job.errorMessage ? `: ${job.errorMessage}` : ''}`)
      if (job.state === 'Aborted') throw new AppError('salesforce.rejected', `${what}: job ${jobId} was aborted`)
      if (Date.now() >= deadline) throw new AppError('salesforce.unavailable', `${what}: job ${jobId} did not complete within ${options.pollTimeoutMs ?? 3_600_000} ms`)
      await sleep(Math.min(wait, Math.max(0, deadline - Date.now())), signal)
      wait = Math.min(options.pollMaxMs ?? 10_000, Math.ceil(wait * 1.5))
      job = await attempt(async () => jsonOf<JobInfo>(await api('GET', `/${jobId}`), what))
    }

    const types = query.types
    const url = `/services/data/v${conn.version}/sobjects/${query.object}/`
    let locator: string | null = null
    for (;;) {
      // A page that breaks off is read again from its locator; the rows already handed out are skipped.
      let handedOut = 0
      let next: string | null = null
      for (let tries = 0; ; tries++) {
        let batch: SalesforceRecord[] = []
        let seen = 0
        try {
          const params = new URLSearchParams({ maxRecords: String(maxRecords) })
          if (locator !== null) params.set('locator', locator)
          const page = await readPage(api, `/${jobId}/results?${params}`, signal)
          next = page.locator
          let columns: { name: string; type: string | undefined }[] | null = null
          for await (const row of page.rows) {
            if (columns === null) {
              columns = row.map((h) => types.get(h.toLowerCase()) ?? { name: h, type: undefined })
              continue
            }
            if (seen++ < handedOut) continue
            const record: Record<string, unknown> = { attributes: { type: query.object, url: '' } }
            for (let i = 0; i < columns.length; i++) record[columns[i]!.name] = typed(row[i] ?? '', columns[i]!.type)
            ;(record.attributes as { url: string }).url = `${url}${String(record.Id)}`
            batch.push(record as SalesforceRecord)
            if (batch.length >= batchSize) {
              handedOut += batch.length
              const out = batch
              batch = []
              page.hold(true)
              yield out
              page.hold(false)
            }
          }
          if (page.count !== null && seen !== page.count) throw new AppError('salesforce.unavailable', `${what}: page had ${seen} records, Sforce-NumberOfRecords said ${page.count}`)
          if (batch.length > 0) {
            handedOut += batch.length
            yield batch
          }
          break
        } catch (err) {
          if (signal.aborted) throw err
          const failure = err instanceof AppError ? err : new AppError('salesforce.unavailable', `${what}: results page broke off: ${(err as Error).message}`, { cause: err })
          if (!isRetriable(failure) || tries >= (options.retries ?? 5)) throw failure
          await sleep(Math.min(15_000, 500 * 2 ** tries), signal)
        }
      }
      if (next === null) break
      locator = next
    }
  } catch (err) {
    if (signal.aborted) throw new AppError('aborted', `${what} stopped`, { cause: err })
    throw err
  } finally {
    if (job) {
      await cleanUp(api, job)
      jobsInUse.delete(job.id)
    }
  }
}

/**
 * Create the job, never leaving one behind on a lost answer. A create that fails in a way
 * that may have reached Salesforce (a retriable failure: timeout, broken connection, 5xx, or
 * an answer cut off) marks the time it was sent; every try after it first looks the jobs up
 * and removes the ones that can be the lost one ({@link removeOrphans}), and creates only
 * once that look-up succeeded (a failed look-up is retried like any call, without creating).
 * When the tries run out or the read is stopped, one last look-up is made, best effort.
 *
 * Removed, not reused: the list does not show a job's query, so a job found cannot be proven
 * to run this SOQL, and reading it could hand out another query's rows. Removing costs one of
 * the org's daily query jobs; a job left behind would cost that and run unread for nothing.
 */
async function createJob(conn: Connection, query: BulkQuery, api: Api, attempt: <T>(fn: () => Promise<T>) => Promise<T>): Promise<JobInfo> {
  const what = `bulk query of ${query.object}`
  const key = `${conn.instanceUrl}|${conn.version}|${query.object.toLowerCase()}|${query.operation}`
  const body = { operation: query.operation, query: query.soql, ...FORMAT }
  // performance.now() when the first create whose answer may be lost was sent; null when none.
  let lostAt: number | null = null
  const createOnce = async (): Promise<JobInfo> => {
    if (lostAt !== null) {
      await removeOrphans(conn, query, api, lostAt, key)
      lostAt = null
    }
    const sentAt = performance.now()
    const sending = (async () => {
      const job = await jsonOf<JobInfo>(await api('POST', '', { body }), what)
      // Known before anyone waiting on this create looks for orphans.
      jobsInUse.add(job.id)
      return job
    })()
    let pending = creating.get(key)
    if (!pending) creating.set(key, (pending = new Set()))
    pending.add(sending)
    try {
      return await sending
    } catch (err) {
      // A refusal (bad SOQL, limit, session) made no job; anything else may have.
      if (isRetriable(err) || !(err instanceof AppError)) lostAt ??= sentAt
      throw err
    } finally {
      pending.delete(sending)
      if (pending.size === 0) creating.delete(key)
    }
  }
  try {
    return await attempt(createOnce)
  } catch (err) {
    if (lostAt !== null) {
      const signal = AbortSignal.timeout(CLEANUP_TIMEOUT_MS)
      const cleanupApi: Api = (method, path, init = {}) => api(method, path, { ...init, signal })
      await removeOrphans(conn, query, cleanupApi, lostAt, key).catch(() => undefined)
    }
    throw err
  }
}

/**
 * Remove the jobs that can be the one a lost create made: listed by `GET /jobs/query`, of the
 * same object, operation, API version, format (and user, when the connection knows it),
 * created at or after the lost create was sent by the server's clock (its `Date` less the time
 * since then), not finished in failure or aborted, and not read by this process. Creates of
 * the same kind still in flight in this process are waited for first, so their jobs are known.
 * A running job is aborted, a completed one deleted. Throws when the look-up or a removal
 * fails in a way worth trying again (then no job is created before it succeeds).
 *
 * Left possible: another process creating a job of the same object as the same user within
 * the same seconds; its read then meets its job `Aborted` (salesforce.rejected) and fails.
 */
async function removeOrphans(conn: Connection, query: BulkQuery, api: Api, lostAt: number, key: string): Promise<void> {
  await Promise.allSettled([...(creating.get(key) ?? [])])
  const userId = (conn as { userInfo?: { id?: string } }).userInfo?.id
  const found: ListedJob[] = []
  let path = ''
  for (let pages = 1; ; pages++) {
    const res = await api('GET', path)
    const serverNow = Date.parse(res.headers.get('date') ?? '')
    const since = (Number.isNaN(serverNow) ? Date.now() : serverNow) - (performance.now() - lostAt) - CREATED_SLACK_MS
    const list = await jsonOf<{ done?: boolean; records?: ListedJob[]; nextRecordsUrl?: string | null }>(res, `bulk jobs of ${query.object}`)
    for (const j of list.records ?? []) {
      if (jobsInUse.has(j.id) || j.state === 'Failed' || j.state === 'Aborted') continue
      if (j.object?.toLowerCase() !== query.object.toLowerCase() || j.operation !== query.operation || j.apiVersion !== Number(conn.version)) continue
      if (j.contentType !== FORMAT.contentType || j.columnDelimiter !== FORMAT.columnDelimiter || j.lineEnding !== FORMAT.lineEnding) continue
      if (userId !== undefined && j.createdById !== userId) continue
      if (!(Date.parse(j.createdDate ?? '') >= since)) continue
      found.push(j)
    }
    const next = list.nextRecordsUrl
    if (list.done !== false || !next || pages >= LIST_PAGES_MAX) break
    path = next.slice(next.indexOf('/jobs/query') + '/jobs/query'.length)
  }
  for (const j of found) {
    try {
      await removeJob(api, j)
    } catch (err) {
      // Refused (finished meanwhile, deleted by someone else) is settled; an outage is looked at again.
      if (isRetriable(err)) throw err
    }
  }
}

/** One results page: its next locator (null on the last), its record count, its rows as they arrive. */
async function readPage(api: Api, path: string, signal: AbortSignal): Promise<{ locator: string | null; count: number | null; rows: AsyncIterable<string[]>; hold: (held: boolean) => void }> {
  // The deadline is on silence, not on the whole page: a large page may stream for minutes.
  const idle = new AbortController()
  let held = false
  const timer: NodeJS.Timeout = setTimeout(() => (held ? timer.refresh() : idle.abort(new Error(`no data for ${PAGE_IDLE_MS} ms`))), PAGE_IDLE_MS)
  timer.unref()
  const touch = () => void timer.refresh()
  let res: Response
  try {
    res = await api('GET', path, { accept: 'text/csv', signal: AbortSignal.any([signal, idle.signal]) })
  } catch (err) {
    clearTimeout(timer)
    throw err
  }
  const header = res.headers.get('sforce-locator')
  if (header === null) {
    clearTimeout(timer)
    await res.body?.cancel()
    // jsforce loops forever here; a page without a locator is a protocol error.
    throw new AppError('salesforce.rejected', 'Bulk results page without Sforce-Locator')
  }
  const countHeader = res.headers.get('sforce-numberofrecords')
  const body = res.body ? Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>) : Readable.from([])
  body.on('data', touch)
  // While the consumer holds a batch no data flows (backpressure): that is not Salesforce's silence.
  const hold = (holding: boolean) => {
    held = holding
    if (!holding) touch()
  }
  const parser = body.pipe(parse({ bom: true, relax_column_count: false }))
  body.on('error', (err) => parser.destroy(err))
  async function* rows(): AsyncGenerator<string[]> {
    try {
      for await (const row of parser) yield row as string[]
    } finally {
      clearTimeout(timer)
      body.destroy()
      parser.destroy()
    }
  }
  return { locator: header === 'null' || header === '' ? null : header, count: countHeader === null ? null : Number(countHeader), rows: rows(), hold }
}

/**
 * A completed job is deleted (its results are not needed again), an unfinished one aborted
 * (and kept, as Salesforce keeps it, for 7 days); a failed one is left. Best effort, never throws.
 */
async function cleanUp(api: Api, job: JobInfo): Promise<void> {
  try {
    await removeJob(api, job, AbortSignal.timeout(CLEANUP_TIMEOUT_MS))
  } catch {
    // A job that finished meanwhile (abort refused), or Salesforce away: Salesforce deletes it after 7 days.
  }
}

/** Delete a completed job, abort an unfinished one; a failed or aborted one is left. */
async function removeJob(api: Api, job: JobInfo, signal?: AbortSignal): Promise<void> {
  const init = signal ? { signal } : {}
  if (job.state === 'JobComplete') await (await api('DELETE', `/${job.id}`, init)).body?.cancel()
  else if (job.state === 'UploadComplete' || job.state === 'InProgress') await (await api('PATCH', `/${job.id}`, { body: { state: 'Aborted' }, ...init })).body?.cancel()
}
