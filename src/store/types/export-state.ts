/**
 * Export bookkeeping every instance shares: the bridge's own Salesforce API calls per org
 * (contracts §8 `apiBudget.used`: counted by the bridge, summed over the last 24 hours, by
 * hourly buckets), the org's usage as Salesforce last reported it (`Sforce-Limit-Info`,
 * `/limits`), the export changes each instance holds in memory per merchant
 * (`health.export.pending`), and when an export batch last wrote something (`lastExportAt`,
 * written by commitExportBatch's `exportedAt`).
 */

/** Calls made by the bridge for one org in one hour (the bucket's start, UTC). */
export interface ApiCallCount {
  orgId: string
  hour: Date
  calls: number
}

/** An org's API usage: the bridge's own calls since a time, and Salesforce's last report. */
export interface ApiUsage {
  orgId: string
  /** The bridge's own calls since the `since` asked for. */
  used: number
  /** `DailyApiRequests` used and max as Salesforce last reported them; null when never. */
  orgUsed: number | null
  orgMax: number | null
  reportedAt: Date | null
}

export interface ExportStateStore {
  /** Add call counts (buckets add up; several instances add to the same one). */
  addApiCalls(counts: ApiCallCount[]): Promise<void>
  /** Salesforce's report of the org's usage; an older report than the stored one is ignored. */
  saveOrgApiUsage(orgId: string, usage: { used: number; max: number; at: Date }): Promise<void>
  /** The bridge's calls for the org in buckets starting at or after `since`, and Salesforce's report. */
  getApiUsage(orgId: string, since: Date): Promise<ApiUsage>
  /** This instance's pending export changes of the merchant (0 removes the row). */
  setExportPending(merchantId: string, instance: string, pending: number): Promise<void>
  /** Pending export changes of the merchant over every instance that reported since `freshSince`. */
  countExportPending(merchantId: string, freshSince: Date): Promise<number>
  /** When an export batch last wrote something for the merchant; null when never. */
  getLastExportAt(merchantId: string): Promise<Date | null>
}
