/**
 * Which Salesforce record a Cohort user is (issue #12, flow 3), batch-shaped: the record ↔
 * user link first (one store read), then `cohortUserIdField = userId`, then the email field
 * (SOQL `IN` lists of at most 200 escaped values within the URL length, src/salesforce/query.ts;
 * a couple of queries per flush). Among several records with one email the most recently
 * modified wins (as on import), and a record whose Cohort id field names another user is
 * never taken for this one.
 */
import type { Connection } from 'jsforce'
import { apiName, inLists, queryRecords, selectByEmails, soqlString, type SalesforceRecord } from '../salesforce/index.ts'
import { normalizeEmail, type Store } from '../store/index.ts'

export type Resolution = { recordId: string; via: 'link' | 'cohort-id' | 'email' }

export interface ResolveTarget {
  userId: string
  email: string | null
}

export interface ResolveOptions {
  store: Store
  /** Opened only when the links do not resolve everyone. */
  connection: () => Promise<Connection>
  merchantId: string
  object: string
  emailField: string
  cohortUserIdField: string
  /**
   * Awaited before the first Salesforce lookup (users without a link): the exporter's earlier
   * pages, still being written, must have stored their links by then, so that a record one of
   * them took is seen as taken here.
   */
  beforeLookup?: () => Promise<void>
}

const modstamp = (r: SalesforceRecord) => Date.parse(String(r.SystemModstamp ?? '')) || 0

/** The record of each target that has one; users left out have none (yet). */
export async function resolveRecords(options: ResolveOptions, targets: ResolveTarget[]): Promise<Map<string, Resolution>> {
  const { store, merchantId, object, emailField, cohortUserIdField } = options
  const found = new Map<string, Resolution>()
  if (targets.length === 0) return found
  for (const link of await store.findLinksByUsers(merchantId, targets.map((t) => t.userId))) {
    if (link.sobject === object) found.set(link.userId, { recordId: link.recordId, via: 'link' })
  }
  let left = targets.filter((t) => !found.has(t.userId))
  if (left.length === 0) return found
  await options.beforeLookup?.()
  const conn = await options.connection()

  const byId: SalesforceRecord[] = []
  for (const list of inLists(left.map((t) => t.userId))) {
    const soql = `SELECT Id, SystemModstamp, ${apiName(cohortUserIdField)} FROM ${apiName(object)} WHERE ${apiName(cohortUserIdField)} IN (${list.map(soqlString).join(', ')})`
    byId.push(...(await queryRecords(conn, soql, `read ${object} by ${cohortUserIdField}`)))
  }
  const newestById = new Map<string, SalesforceRecord>()
  for (const r of byId) {
    const userId = String(r[cohortUserIdField] ?? '')
    const seen = newestById.get(userId)
    if (!seen || modstamp(r) > modstamp(seen)) newestById.set(userId, r)
  }
  for (const t of left) {
    const r = newestById.get(t.userId)
    if (r) found.set(t.userId, { recordId: r.Id, via: 'cohort-id' })
  }

  left = left.filter((t) => !found.has(t.userId) && t.email)
  if (left.length === 0) return found
  const records = await selectByEmails(conn, object, emailField, [cohortUserIdField], [...new Set(left.map((t) => t.email!.trim()))])
  const newestByEmail = new Map<string, SalesforceRecord>()
  for (const r of records) {
    const email = normalizeEmail(typeof r[emailField] === 'string' ? (r[emailField] as string) : null)
    if (!email) continue
    const seen = newestByEmail.get(email)
    if (!seen || modstamp(r) > modstamp(seen)) newestByEmail.set(email, r)
  }
  // A record already linked to another user is that user's.
  const taken = new Map((await store.findLinksByRecords(merchantId, [...newestByEmail.values()].map((r) => r.Id))).map((l) => [l.recordId, l.userId]))
  for (const t of left) {
    const r = newestByEmail.get(normalizeEmail(t.email)!)
    if (!r) continue
    const owner = r[cohortUserIdField]
    if (owner !== null && owner !== undefined && owner !== '' && owner !== t.userId) continue
    const linkedTo = taken.get(r.Id)
    if (linkedTo !== undefined && linkedTo !== t.userId) continue
    found.set(t.userId, { recordId: r.Id, via: 'email' })
  }
  return found
}
