/**
 * API usage: every call under `/services/data/vXX.X/` counts (contracts §5), per org for
 * `DailyApiRequests` / `Sforce-Limit-Info`, and overall by endpoint and by `client=` for the
 * admin stats.
 */
import type { StreamingUsage } from './cometd.ts'

export interface ApiUsage {
  /** Count one API call; returns the org's usage including it. */
  count(orgId: string, endpoint: string, client: string | undefined): number
  used(orgId: string): number
  /** Count one Bulk API 2.0 query job created by the org (`DailyBulkV2QueryJobs`). */
  bulkQueryJob(orgId: string): void
  readonly max: number
  /** `api-usage=N/M`, the value of `Sforce-Limit-Info`. */
  header(orgId: string): string
  /** `GET /limits` body for one org. */
  limits(orgId: string, streaming: StreamingUsage): Record<string, { Max: number; Remaining: number }>
  stats(): { total: number; byEndpoint: Record<string, number>; byClient: Record<string, number> }
  reset(): void
}

/** `GET /sobjects/Contact/003…` → `GET /sobjects/Contact/{id}`: ids and locators folded. */
export function endpointOf(method: string, path: string): string {
  const rest = path.replace(/^\/services\/data\/v\d+\.\d\/?/, '/').replace(/\/+$/, '') || '/'
  const folded = rest
    .split('/')
    .map((seg) => (/^01g[a-zA-Z0-9]{12,15}-\d+$/.test(seg) ? '{locator}' : /^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$/.test(seg) && /\d/.test(seg) ? '{id}' : seg))
    .join('/')
  return `${method} ${folded}`
}

export function createApiUsage(options: { dailyApiRequests: number }): ApiUsage {
  const perOrg = new Map<string, number>()
  const bulkJobs = new Map<string, number>()
  const byEndpoint = new Map<string, number>()
  const byClient = new Map<string, number>()
  let total = 0
  const bump = (m: Map<string, number>, k: string) => {
    const n = (m.get(k) ?? 0) + 1
    m.set(k, n)
    return n
  }
  const max = options.dailyApiRequests
  const used = (orgId: string) => perOrg.get(orgId) ?? 0
  return {
    max,
    count(orgId, endpoint, client) {
      total++
      bump(byEndpoint, endpoint)
      bump(byClient, client ?? '(none)')
      return bump(perOrg, orgId)
    },
    used,
    bulkQueryJob: (orgId) => void bump(bulkJobs, orgId),
    header: (orgId) => `api-usage=${used(orgId)}/${max}`,
    limits(orgId, streaming) {
      const left = (m: number, u = 0) => ({ Max: m, Remaining: Math.max(0, m - u) })
      return {
        ConcurrentAsyncGetReportInstances: left(200),
        ConcurrentSyncReportRuns: left(20),
        DailyApiRequests: left(max, used(orgId)),
        DailyAsyncApexExecutions: left(250000),
        DailyBulkApiBatches: left(15000),
        DailyBulkV2QueryFileStorageMB: left(976562),
        DailyBulkV2QueryJobs: left(10000, bulkJobs.get(orgId)),
        DailyDeliveredPlatformEvents: left(streaming.maxDelivered, streaming.delivered),
        DailyDurableGenericStreamingApiEvents: left(1000000),
        DailyDurableStreamingApiEvents: left(1000000),
        DailyGenericStreamingApiEvents: left(10000),
        DailyStreamingApiEvents: left(1000000),
        DataStorageMB: left(1024, 1),
        DurableStreamingApiConcurrentClients: left(streaming.maxClients, streaming.clients),
        FileStorageMB: left(1024),
        HourlyPublishedPlatformEvents: left(250000),
        MassEmail: left(5000),
        SingleEmail: left(5000),
        StreamingApiConcurrentClients: left(streaming.maxClients, streaming.clients),
      }
    },
    stats: () => ({ total, byEndpoint: Object.fromEntries(byEndpoint), byClient: Object.fromEntries(byClient) }),
    reset() {
      perOrg.clear()
      bulkJobs.clear()
      byEndpoint.clear()
      byClient.clear()
      total = 0
    },
  }
}
