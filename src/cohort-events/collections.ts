/**
 * Writes through sObject Collections (`POST` / `PATCH /composite/sobjects`, ≤ 200 records per
 * call, `allOrNone: false`), on the merchant's jsforce connection (API version pinned,
 * `Sforce-Call-Options: client=…`, the single-flight refresh on `INVALID_SESSION_ID`, every
 * call counted in the API budget). Outages (503 `SERVER_UNAVAILABLE`, network errors) and
 * records refused with `UNABLE_TO_LOCK_ROW` are tried again with bounded backoff and jitter
 * (src/retry.ts), then become per-record results with the code. `salesforce.limit-exceeded`
 * and `salesforce.needs-reauth` are thrown: the caller pauses the merchant.
 */
import type { Connection } from 'jsforce'
import { AppError } from '../errors.ts'
import { backoffDelay, retry, sleep } from '../retry.ts'
import { toSalesforceError, withSalesforceDeadline } from '../salesforce/index.ts'

export const COLLECTION_MAX = 200

export type RecordResult = { ok: true; id: string } | { ok: false; code: string; message: string }

export interface WriteOptions {
  signal?: AbortSignal
  /** Attempts after the first, for a call or a locked record. Default 4. */
  retries?: number
  /** First backoff ceiling. Default 200 ms. */
  minDelayMs?: number
  /** Largest backoff. Default 5,000 ms. */
  maxDelayMs?: number
  /** Told of every call sent (for the outcome's figures). */
  onCall?: () => void
}

/** Codes of the whole call that pause the merchant instead of failing its records. */
export const PAUSING_CODES = new Set(['salesforce.limit-exceeded', 'salesforce.needs-reauth', 'salesforce.not-connected'])

interface RawResult {
  id?: string | null
  success: boolean
  errors?: Array<{ statusCode?: string; message?: string }>
}

async function send(conn: Connection, method: 'POST' | 'PATCH', records: Record<string, unknown>[], options: WriteOptions): Promise<RawResult[]> {
  return retry(async () => {
    options.onCall?.()
    try {
      const request = conn.request<RawResult[]>({ method, url: '/composite/sobjects', body: JSON.stringify({ allOrNone: false, records }), headers: { 'content-type': 'application/json' } })
      return await withSalesforceDeadline(Promise.resolve(request), `${method} /composite/sobjects`)
    } catch (err) {
      throw toSalesforceError(err, `${method} /composite/sobjects`)
    }
  }, { retries: options.retries ?? 4, minDelayMs: options.minDelayMs ?? 200, maxDelayMs: options.maxDelayMs ?? 5_000, ...(options.signal ? { signal: options.signal } : {}) })
}

const failure = (err: unknown): RecordResult => {
  const cause = (err as { cause?: { errorCode?: string } }).cause
  const code = err instanceof AppError ? (err.code === 'salesforce.rejected' && cause?.errorCode ? cause.errorCode : err.code) : 'internal'
  return { ok: false, code, message: (err as Error).message }
}

/** One call per ≤ 200 records; results in the order of `records`. */
export async function writeRecords(conn: Connection, method: 'POST' | 'PATCH', records: Record<string, unknown>[], options: WriteOptions = {}): Promise<RecordResult[]> {
  const results: RecordResult[] = new Array(records.length)
  for (let start = 0; start < records.length; start += COLLECTION_MAX) {
    let indexes = records.slice(start, start + COLLECTION_MAX).map((_, i) => start + i)
    for (let attempt = 1; indexes.length > 0; attempt++) {
      let raw: RawResult[]
      try {
        raw = await send(conn, method, indexes.map((i) => records[i]!), options)
      } catch (err) {
        if (err instanceof AppError && (PAUSING_CODES.has(err.code) || err.code === 'aborted')) throw err
        if (options.signal?.aborted) throw err
        for (const i of indexes) results[i] = failure(err)
        break
      }
      const locked: number[] = []
      indexes.forEach((index, k) => {
        const r = raw[k]
        if (r?.success && r.id) {
          results[index] = { ok: true, id: r.id }
          return
        }
        const e = r?.errors?.[0]
        const code = e?.statusCode ?? 'UNKNOWN_EXCEPTION'
        if (code === 'UNABLE_TO_LOCK_ROW' && attempt <= (options.retries ?? 4)) locked.push(index)
        else results[index] = { ok: false, code, message: e?.message ?? 'Salesforce refused the record' }
      })
      indexes = locked
      if (locked.length > 0) await sleep(backoffDelay(attempt, { minDelayMs: options.minDelayMs ?? 200, maxDelayMs: options.maxDelayMs ?? 5_000 }), options.signal)
    }
  }
  return results
}
