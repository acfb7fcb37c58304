/**
 * A merchant on a test stack: created in the Cohort stand-in, connected to a Salesforce org
 * through the real pop-up flow, with calls for its settings and status, and the stand-ins'
 * admin calls a sync test needs (records in Salesforce, users in Cohort).
 */
import { scriptedLogin } from '../sandbox/salesforce/login.ts'
import { randomName } from './index.ts'
import type { Stack } from './stack.ts'

export interface TestMerchant {
  merchantId: string
  /** A call to `/v1/merchants/:merchantId/salesforce{path}` with the merchant's token. */
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>
  /** PUT …/import, asserting 200. */
  saveImport(body: Record<string, unknown>): Promise<any>
  /** GET …/salesforce `health`. */
  health(): Promise<any>
}

async function json(url: string, method = 'GET', body?: unknown): Promise<any> {
  const res = await fetch(url, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) })
  const text = await res.text()
  if (!res.ok) throw new Error(`${method} ${url} → ${res.status} ${text}`)
  return text === '' ? undefined : JSON.parse(text)
}

/** What the merchant helpers use of a stack: an in-process `Stack`, or a process stack's URLs and calls. */
export type MerchantStack = Pick<Stack, 'token' | 'call'> & { salesforce: { url: string }; cohort: { url: string } }

export async function connectMerchant(stack: MerchantStack, options: { username?: string; merchantId?: string } = {}): Promise<TestMerchant> {
  const merchantId = options.merchantId ?? randomName('m')
  await json(`${stack.cohort.url}/__sandbox/merchants`, 'POST', { id: merchantId })
  const token = await stack.token({ merchantId })
  const start = await stack.call('GET', `/oauth/salesforce/connect?merchantId=${merchantId}&token=${token}`)
  const login = await scriptedLogin(start.headers.get('location')!, { username: options.username ?? 'integration@example.com' })
  await fetch(login.redirect.toString())
  const api = (method: string, path: string, body?: unknown) => stack.call(method, `/v1/merchants/${merchantId}/salesforce${path}`, { merchantId, body })
  return {
    merchantId,
    api,
    async saveImport(body) {
      const res = await api('PUT', '/import', body)
      if (res.status !== 200) throw new Error(`PUT import → ${res.status} ${JSON.stringify(res.body)}`)
      return res.body
    },
    async health() {
      return (await api('GET', '')).body.health
    },
  }
}

/** The Salesforce stand-in's record admin calls (org 1 unless `org`), as the UI user. */
export function salesforceRecords(stack: Pick<MerchantStack, 'salesforce'>, object: string, org?: number) {
  const base = `${stack.salesforce.url}/__sandbox/records/${object}`
  const q = org && org !== 1 ? `?org=${org}` : ''
  return {
    create: async (records: Record<string, unknown>[], events = true): Promise<string[]> => (await json(`${base}${q}`, 'POST', { records, events })).ids,
    update: (id: string, fields: Record<string, unknown>) => json(`${base}/${id}${q}`, 'PATCH', { fields }),
    remove: (id: string) => json(`${base}/${id}${q}`, 'DELETE'),
    undelete: (id: string) => json(`${base}/${id}/undelete${q}`, 'POST'),
    list: async (): Promise<Record<string, unknown>[]> => (await json(`${base}?limit=10000${q ? `&org=${org}` : ''}`)).records,
  }
}

/** The Cohort stand-in's users of a merchant. */
export function cohortUsers(stack: Pick<MerchantStack, 'cohort'>, merchantId: string) {
  const base = `${stack.cohort.url}/__sandbox/merchants/${merchantId}/users`
  return {
    create: async (users: { email: string; properties?: Record<string, unknown> }[], events = true): Promise<string[]> => (await json(base, 'POST', { users, events })).ids,
    update: (userId: string, properties: Record<string, unknown>) => json(`${base}/${userId}`, 'PATCH', { properties }),
    list: async (): Promise<Array<{ id: string; email: string; properties: Record<string, unknown>; version: number }>> => (await json(`${base}?limit=10000`)).users,
    byEmail: async (email: string) => ((await json(`${base}?limit=10000`)).users as Array<{ id: string; email: string; properties: Record<string, unknown> }>).find((u) => u.email.toLowerCase() === email.toLowerCase()),
  }
}
