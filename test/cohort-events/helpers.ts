/**
 * An export stack: both stand-ins, the bridge with the import and export engines, a merchant
 * connected with import on (mode `existing`, so Salesforce records do not create Cohort users)
 * and export settings saved through the route, plus the stand-ins' calls an export test needs.
 */
import type { Test } from 'tap'
import { syncEngines, type EngineOptions } from '../../src/engines.ts'
import { waitFor } from '../helpers/index.ts'
import { cohortUsers, connectMerchant, salesforceRecords, type TestMerchant } from '../helpers/merchant.ts'
import { startStack, type Stack } from '../helpers/stack.ts'

export const EXPORT_ENV = { LEASE_TTL_MS: '3000', SETTINGS_POLL_MS: '500', EXPORT_LINGER_MS: '200', SALESFORCE_LIMITS_POLL_MS: '1500' }

export interface ExportSettingsBody {
  mode?: 'all' | 'existing'
  mappings?: Array<{ property: string; field: string }>
  createDefaults?: Record<string, unknown>
  apiBudgetPercent?: number
}

export async function exportStack(t: Test, options: { backend?: 'sqlite' | 'postgres'; env?: Record<string, string>; engines?: EngineOptions } = {}) {
  const stack = await startStack(t, { backend: options.backend ?? 'sqlite', env: { ...EXPORT_ENV, ...options.env }, components: syncEngines({ exporter: { sweepMs: 1_000, retry: { minDelayMs: 20, maxDelayMs: 200 } }, ...options.engines }) })
  // On failure, what the exporter said.
  t.teardown(() => {
    if (!t.passing() || process.env.EXPORT_TEST_LOGS) for (const l of stack.logs.lines()) if (process.env.EXPORT_TEST_LOGS === 'all' || (l.level as number) >= 40 || l.component === 'exporter') console.error(JSON.stringify(l).slice(0, 600))
  })
  return { stack, ...(await exportMerchant(stack)) }
}

export async function exportMerchant(stack: Stack, options: { username?: string; importFields?: Array<{ field: string; property?: string }> } = {}) {
  const merchant = await connectMerchant(stack, options.username ? { username: options.username } : {})
  await merchant.saveImport({ enabled: true, object: 'Contact', emailField: 'Email', mode: 'existing', fields: options.importFields ?? [] })
  // The import's first full load (of an empty org) is over, so it cannot link records the test makes.
  await waitFor(async () => (await merchant.health()).load.state === 'completed', 30_000, 'the first full load completed')
  for (const [key, type] of [['points', 'number'], ['tier', 'text'], ['nickname', 'text'], ['since', 'date'], ['opt_in', 'boolean']] as const) {
    await stack.services.cohort.ensureProperty(merchant.merchantId, { key, name: key, type })
  }
  return { merchant, contacts: salesforceRecords(stack, 'Contact'), users: cohortUsers(stack, merchant.merchantId), saveExport: (body: ExportSettingsBody) => saveExport(merchant, body) }
}

export const MAPPINGS = [
  { property: 'points', field: 'Cohort_Points__c' },
  { property: 'tier', field: 'Loyalty_Tier__c' },
  { property: 'nickname', field: 'Title' },
  { property: 'since', field: 'Cohort_Member_Since__c' },
  { property: 'opt_in', field: 'Cohort_Opt_In__c' },
]

export async function saveExport(merchant: TestMerchant, body: ExportSettingsBody): Promise<any> {
  const res = await merchant.api('PUT', '/export', { enabled: true, cohortUserIdField: 'Cohort_User_Id__c', mode: body.mode ?? 'existing', mappings: body.mappings ?? MAPPINGS, createDefaults: body.createDefaults ?? {}, ...(body.apiBudgetPercent ? { apiBudgetPercent: body.apiBudgetPercent } : {}) })
  if (res.status !== 200) throw new Error(`PUT export → ${res.status} ${JSON.stringify(res.body)}`)
  // Turning export on starts the backfill of existing users: let it end before the test makes any.
  await waitFor(async () => ['completed', 'failed'].includes((await merchant.health()).exportBackfill?.state), 30_000, 'the export backfill ended')
  return res.body
}

export async function sandboxJson(url: string, method = 'GET', body?: unknown): Promise<any> {
  const res = await fetch(url, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) })
  const text = await res.text()
  if (!res.ok) throw new Error(`${method} ${url} → ${res.status} ${text}`)
  return text === '' ? undefined : JSON.parse(text)
}

/** The Salesforce stand-in's API call stats. */
export async function apiStats(stack: Stack): Promise<{ total: number; byEndpoint: Record<string, number>; byClient: Record<string, number> }> {
  return (await sandboxJson(`${stack.salesforce.url}/__sandbox/stats`)).apiCalls
}

/** Collections writes so far (PATCH and POST /composite/sobjects). */
export async function writeCalls(stack: Stack): Promise<number> {
  const { byEndpoint } = await apiStats(stack)
  return (byEndpoint['PATCH /composite/sobjects'] ?? 0) + (byEndpoint['POST /composite/sobjects'] ?? 0)
}

export async function fault(stack: Stack, body: Record<string, unknown>): Promise<void> {
  await sandboxJson(`${stack.salesforce.url}/__sandbox/faults`, 'POST', body)
}

/** Wait for a Contact matching `check` (found by email). */
export async function contactWhere(stack: Stack, email: string, check: (r: Record<string, any>) => boolean, what = email, timeoutMs = 20_000): Promise<Record<string, any>> {
  let found: Record<string, any> | undefined
  await waitFor(async () => {
    found = (await salesforceRecords(stack, 'Contact').list()).find((r) => String(r.Email).toLowerCase() === email.toLowerCase())
    return found !== undefined && check(found)
  }, timeoutMs, what)
  return found!
}
