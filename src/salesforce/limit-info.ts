/**
 * Salesforce's `Sforce-Limit-Info` header, read in one place: by the API budget (budget.ts)
 * and by the Bulk API 2.0 reader (bulk.ts), which budget.ts imports, so the parser lives
 * apart from both.
 */

const ENTRY = /^api-usage=(\d+)\/(\d+)$/

/**
 * The `api-usage=N/M` entry → { used: N, max: M }; null when absent. Entries are read by name
 * (`;`- or `,`-separated): `per-app-api-usage=…` or `api-bursts=…` beside it is not the org's usage.
 */
export function parseLimitInfo(header: unknown): { used: number; max: number } | null {
  const value = Array.isArray(header) ? header.join(',') : typeof header === 'string' ? header : ''
  for (const entry of value.split(/[;,]/)) {
    const m = ENTRY.exec(entry.trim())
    if (m) return { used: Number(m[1]), max: Number(m[2]) }
  }
  return null
}
