/** PostgreSQL: record links, one record per user per merchant. */
import { runsByMerchant } from '../shared/batches.ts'
import { normalizeEmail, planLinks } from '../shared/links.ts'
import { clampKeysetLimit, toKeysetPage } from '../shared/paging.ts'
import { toRecordLink } from '../shared/rows.ts'
import type { LinkResult, LinkStore, NewLink, RecordLink } from '../types/index.ts'
import { codec, jsonRows, keysetRows, lockMerchantLinks, one, probeByKeys, rows, unique, type PostgresContext, type Queryable } from './db.ts'

export type PostgresLinks = Omit<LinkStore, 'walkLinks'>

/**
 * Apply links of one merchant with the one-to-one rule: read what they can touch, plan, then
 * one DELETE and one INSERT. Inside a transaction; takes the merchant's link lock.
 */
export async function writeLinks(client: Queryable, merchantId: string, links: NewLink[]): Promise<LinkResult[]> {
  if (links.length === 0) return []
  await lockMerchantLinks(client, merchantId)
  // Two probes, merged here: one statement with an OR of the two can read every link.
  const byRecord = await rows(client, probeByKeys('record_links', 'record_id'), [merchantId, unique(links.map((l) => l.recordId))])
  const byUser = await rows(client, probeByKeys('record_links', 'user_id'), [merchantId, unique(links.map((l) => l.userId))])
  const existing = [...new Map([...byRecord, ...byUser].map((row) => [String(row.record_id), toRecordLink(row, codec)])).values()]
  const plan = planLinks(existing, links)
  if (plan.deleteRecordIds.length > 0) {
    await client.query(`DELETE FROM record_links WHERE ctid = ANY(ARRAY(${probeByKeys('record_links', 'record_id', 'ctid')}))`, [merchantId, plan.deleteRecordIds])
  }
  await client.query(
    `INSERT INTO record_links (merchant_id, record_id, sobject, user_id, email, email_norm, updated_at)
      SELECT $1, r.record_id, r.sobject, r.user_id, r.email, r.email_norm, $3
      FROM jsonb_to_recordset($2::jsonb) AS r(record_id text, sobject text, user_id text, email text, email_norm text)`,
    [merchantId, jsonRows(plan.rows.map((l) => ({ record_id: l.recordId, sobject: l.sobject, user_id: l.userId, email: l.email, email_norm: l.emailNorm }))), new Date()],
  )
  return plan.results
}

/** Remove the links of these records; returns the links removed. Inside a transaction. */
export async function removeLinks(client: Queryable, merchantId: string, recordIds: string[]): Promise<RecordLink[]> {
  if (recordIds.length === 0) return []
  await lockMerchantLinks(client, merchantId)
  const removed = await rows(client, `DELETE FROM record_links WHERE ctid = ANY(ARRAY(${probeByKeys('record_links', 'record_id', 'ctid')})) RETURNING *`,
    [merchantId, unique(recordIds)])
  return removed.map((row) => toRecordLink(row, codec)).sort((a, b) => (a.recordId < b.recordId ? -1 : 1))
}

export function postgresLinks(ctx: PostgresContext): PostgresLinks {
  const { pool } = ctx
  return {
    async linkRecord(link) {
      return (await ctx.transaction((client) => writeLinks(client, link.merchantId, [link])))[0]!
    },

    async linkRecords(links) {
      if (links.length === 0) return []
      return ctx.transaction(async (client) => {
        // Every merchant's lock up front, in one order: two batches cannot deadlock on them.
        for (const merchantId of unique(links.map((l) => l.merchantId)).sort()) await lockMerchantLinks(client, merchantId)
        const results: LinkResult[] = []
        // One merchant at a time keeps the plan's "every link it can touch" exact.
        for (const [merchantId, run] of runsByMerchant(links)) results.push(...(await writeLinks(client, merchantId, run)))
        return results
      })
    },

    async unlinkRecord(merchantId, recordId) {
      return (await ctx.transaction((client) => removeLinks(client, merchantId, [recordId])))[0] ?? null
    },

    async findLinkByRecord(merchantId, recordId) {
      const row = await one(pool, 'SELECT * FROM record_links WHERE merchant_id = $1 AND record_id = $2', [merchantId, recordId])
      return row ? toRecordLink(row, codec) : null
    },

    async findLinkByUser(merchantId, userId) {
      const row = await one(pool, 'SELECT * FROM record_links WHERE merchant_id = $1 AND user_id = $2', [merchantId, userId])
      return row ? toRecordLink(row, codec) : null
    },

    async findLinksByRecords(merchantId, recordIds) {
      if (recordIds.length === 0) return []
      const found = await rows(pool, `${probeByKeys('record_links', 'record_id')} ORDER BY t.record_id`, [merchantId, unique(recordIds)])
      return found.map((row) => toRecordLink(row, codec))
    },

    async findLinksByUsers(merchantId, userIds) {
      if (userIds.length === 0) return []
      const found = await rows(pool, `${probeByKeys('record_links', 'user_id')} ORDER BY t.user_id, t.record_id`, [merchantId, unique(userIds)])
      return found.map((row) => toRecordLink(row, codec))
    },

    async findLinksByEmails(merchantId, emails) {
      const normalized = emails.map(normalizeEmail).filter((e) => e !== null)
      if (normalized.length === 0) return []
      const found = await rows(pool, `${probeByKeys('record_links', 'email_norm')} ORDER BY t.email_norm, t.record_id`, [merchantId, unique(normalized)])
      return found.map((row) => toRecordLink(row, codec))
    },

    async listLinksPage(merchantId, options = {}) {
      const limit = clampKeysetLimit(options.limit)
      const found = options.after == null
        ? await keysetRows(ctx, 'SELECT * FROM record_links WHERE merchant_id = $1 ORDER BY record_id LIMIT $2', [merchantId, limit + 1])
        : await keysetRows(ctx, 'SELECT * FROM record_links WHERE merchant_id = $1 AND record_id > $2 ORDER BY record_id LIMIT $3', [merchantId, options.after, limit + 1])
      return toKeysetPage(found.map((row) => toRecordLink(row, codec)), limit, (l) => l.recordId)
    },

    async forgetUser(merchantId, userId) {
      await ctx.transaction(async (client) => {
        await lockMerchantLinks(client, merchantId)
        const linked = 'SELECT record_id FROM record_links WHERE merchant_id = $1 AND user_id = $2'
        await client.query(`DELETE FROM field_states WHERE merchant_id = $1 AND record_id IN (${linked})`, [merchantId, userId])
        await client.query(`DELETE FROM traces WHERE merchant_id = $1 AND (user_id = $2 OR record_id IN (${linked}))`, [merchantId, userId])
        await client.query('DELETE FROM record_links WHERE merchant_id = $1 AND user_id = $2', [merchantId, userId])
        await client.query('DELETE FROM export_versions WHERE merchant_id = $1 AND user_id = $2', [merchantId, userId])
        await client.query('DELETE FROM parked_changes WHERE merchant_id = $1 AND key = $2', [merchantId, userId])
      })
    },
  }
}
