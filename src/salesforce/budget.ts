/**
 * The API budget (contracts §8 `apiBudget`): every Salesforce API call the bridge makes is
 * counted here, per org, whoever made it (import, export, describe, Bulk API 2.0, `/limits`),
 * because the connection factory hooks every connection's HTTP transport into {@link ApiBudget.track}
 * (and listens for the Bulk API 2.0 calls src/salesforce/bulk.ts announces on the connection).
 * Counting is batch-shaped: a call only bumps a number in memory; the counts go to the store
 * (hourly buckets shared by every instance) every `flushMs`, and so does the org's usage as
 * Salesforce reports it in `Sforce-Limit-Info: api-usage=used/max`. `used` is the sum of the
 * buckets of the last 24 hours plus what is not flushed yet.
 */
import { createComponent, type Component } from '../component.ts'
import type { Logger } from '../logger.ts'
import type { ApiUsage, Store } from '../store/index.ts'
import { BULK_API_CALL, type BulkApiCall } from './bulk.ts'
import { parseLimitInfo } from './limit-info.ts'

/** Requests under `/services/data/vXX.X/` are API calls; the versions list is not (contracts §5). */
const API_CALL = /\/services\/data\/v\d+\.\d+(\/|$)/
const HOUR_MS = 3_600_000

export const isApiCallUrl = (url: string): boolean => API_CALL.test(url.split('?')[0] ?? url)

/** Start of the bucket a budget window of 24 hours begins with (the hour 23 hours back). */
export const budgetWindowStart = (now = Date.now()): Date => new Date(Math.floor(now / HOUR_MS) * HOUR_MS - 23 * HOUR_MS)

export interface ApiBudget extends Component {
  /** Count one API call of the org (in memory). */
  count(orgId: string): void
  /** An answer's `Sforce-Limit-Info` header. */
  observe(orgId: string, header: unknown): void
  /**
   * Wrap a jsforce connection's transport (`conn._transport`), so each API call it sends is
   * counted and each answer's `Sforce-Limit-Info` observed.
   */
  track(conn: unknown, orgId: string): void
  /** The org's usage of the last 24 hours, with what this instance has not flushed yet. */
  usage(orgId: string): Promise<ApiUsage>
  /** Write the counts to the store now. */
  flush(): Promise<void>
}

interface Transport {
  httpRequest(request: { url?: string }, options?: unknown): PromiseLike<{ headers?: Record<string, unknown> }>
}

export function createApiBudget(deps: { store: Store; logger: Logger; flushMs?: number }): ApiBudget {
  const { store } = deps
  const logger = deps.logger.child({ component: 'api-budget' })
  const flushMs = deps.flushMs ?? 2_000
  // orgId → hour → calls not yet in the store.
  let counts = new Map<string, Map<number, number>>()
  let reports = new Map<string, { used: number; max: number; at: Date }>()
  let timer: NodeJS.Timeout | undefined
  let flushing: Promise<void> = Promise.resolve()

  const unflushed = (orgId: string, since: Date) => {
    let n = 0
    for (const [hour, calls] of counts.get(orgId) ?? []) if (hour >= since.getTime()) n += calls
    return n
  }

  async function writeOut(): Promise<void> {
    const taken = counts
    const taking = reports
    counts = new Map()
    reports = new Map()
    const rows = [...taken].flatMap(([orgId, hours]) => [...hours].map(([hour, calls]) => ({ orgId, hour: new Date(hour), calls })))
    try {
      await store.addApiCalls(rows)
      for (const [orgId, usage] of taking) await store.saveOrgApiUsage(orgId, usage)
    } catch (err) {
      // Kept for the next flush: a count is never lost to a store hiccup.
      for (const r of rows) bump(r.orgId, r.hour.getTime(), r.calls)
      for (const [orgId, usage] of taking) if (!reports.has(orgId)) reports.set(orgId, usage)
      logger.warn({ err }, 'storing API call counts failed; kept for the next flush')
    }
  }

  function bump(orgId: string, hour: number, by: number): void {
    let hours = counts.get(orgId)
    if (!hours) counts.set(orgId, (hours = new Map()))
    hours.set(hour, (hours.get(hour) ?? 0) + by)
  }

  const budget: ApiBudget = {
    ...createComponent('api-budget', {
      async start() {
        timer = setInterval(() => void budget.flush(), flushMs)
        timer.unref()
      },
      async stop() {
        clearInterval(timer)
        timer = undefined
        await budget.flush()
      },
    }),
    count(orgId) {
      bump(orgId, Math.floor(Date.now() / HOUR_MS) * HOUR_MS, 1)
    },
    observe(orgId, header) {
      const parsed = parseLimitInfo(header)
      if (parsed) reports.set(orgId, { ...parsed, at: new Date() })
    },
    track(conn, orgId) {
      const holder = conn as { _transport?: Transport; on?: (event: string, listener: (call: BulkApiCall) => void) => void }
      const transport = holder._transport
      if (!transport || (transport as { tracked?: boolean }).tracked) return
      // Bulk API 2.0 calls go through fetch (src/salesforce/bulk.ts) and are announced instead.
      holder.on?.(BULK_API_CALL, (call) => {
        if (!isApiCallUrl(call.url)) return
        budget.count(orgId)
        budget.observe(orgId, call.limitInfo)
      })
      const send = transport.httpRequest.bind(transport)
      transport.httpRequest = (request, options) => {
        const answer = send(request, options)
        if (isApiCallUrl(request.url ?? '')) {
          budget.count(orgId)
          answer.then((res) => budget.observe(orgId, res?.headers?.['sforce-limit-info']), () => undefined)
        }
        return answer
      }
      ;(transport as { tracked?: boolean }).tracked = true
    },
    async usage(orgId) {
      const since = budgetWindowStart()
      const stored = await store.getApiUsage(orgId, since)
      const report = reports.get(orgId)
      return {
        ...stored,
        used: stored.used + unflushed(orgId, since),
        ...(report && (!stored.reportedAt || report.at >= stored.reportedAt) ? { orgUsed: report.used, orgMax: report.max, reportedAt: report.at } : {}),
      }
    },
    flush() {
      flushing = flushing.then(writeOut)
      return flushing
    },
  }
  return budget
}
