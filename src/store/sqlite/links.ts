/** SQLite: record links, one record per user per merchant. */
import { runsByMerchant } from '../shared/batches.ts'
import { normalizeEmail, planLinks } from '../shared/links.ts'
import { clampKeysetLimit, toKeysetPage } from '../shared/paging.ts'
import { toRecordLink } from '../shared/rows.ts'
import type { LinkResult, LinkStore, NewLink, RecordLink } from '../types/index.ts'
import { codec, jsonList, nullable, type SqliteContext } from './db.ts'

export type SqliteLinks = Omit<LinkStore, 'walkLinks'>

/** Apply links of one merchant with the one-to-one rule. Call inside a transaction. */
export function writeLinks({ sql }: SqliteContext, merchantId: string, links: NewLink[]): LinkResult[] {
  if (links.length === 0) return []
  const recordIds = jsonList(links.map((l) => l.recordId))
  const userIds = jsonList(links.map((l) => l.userId))
  // Two index lookups, merged here: SQLite plans an OR, or a UNION, of the two as a scan of
  // every link of the merchant.
  const byRecord = sql.all`SELECT * FROM record_links WHERE merchant_id = ${merchantId} AND record_id IN (SELECT value FROM json_each(${recordIds}))`
  const byUser = sql.all`SELECT * FROM record_links WHERE merchant_id = ${merchantId} AND user_id IN (SELECT value FROM json_each(${userIds}))`
  const existing = [...new Map([...byRecord, ...byUser].map((row) => [String(row.record_id), toRecordLink(row, codec)])).values()]
  const plan = planLinks(existing, links)
  for (const recordId of plan.deleteRecordIds) sql.run`DELETE FROM record_links WHERE merchant_id = ${merchantId} AND record_id = ${recordId}`
  const at = Date.now()
  for (const l of plan.rows) {
    sql.run`INSERT INTO record_links (merchant_id, record_id, sobject, user_id, email, email_norm, updated_at)
      VALUES (${merchantId}, ${l.recordId}, ${l.sobject}, ${l.userId}, ${nullable(l.email)}, ${l.emailNorm}, ${at})`
  }
  return plan.results
}

/** Remove the links of these records; returns the links removed. Call inside a transaction. */
export function removeLinks({ sql }: SqliteContext, merchantId: string, recordIds: string[]): RecordLink[] {
  const removed: RecordLink[] = []
  for (const recordId of recordIds) {
    const row = sql.get`DELETE FROM record_links WHERE merchant_id = ${merchantId} AND record_id = ${recordId} RETURNING *`
    if (row) removed.push(toRecordLink(row, codec))
  }
  return removed
}

export function sqliteLinks(ctx: SqliteContext): SqliteLinks {
  const { sql } = ctx
  return {
    async linkRecord(link) {
      return ctx.transaction(() => writeLinks(ctx, link.merchantId, [link]))[0]!
    },

    async linkRecords(links) {
      // One merchant at a time keeps the plan's "every link it can touch" exact.
      return ctx.transaction(() => {
        const results: LinkResult[] = []
        for (const [merchantId, run] of runsByMerchant(links)) results.push(...writeLinks(ctx, merchantId, run))
        return results
      })
    },

    async unlinkRecord(merchantId, recordId) {
      return removeLinks(ctx, merchantId, [recordId])[0] ?? null
    },

    async findLinkByRecord(merchantId, recordId) {
      const row = sql.get`SELECT * FROM record_links WHERE merchant_id = ${merchantId} AND record_id = ${recordId}`
      return row ? toRecordLink(row, codec) : null
    },

    async findLinkByUser(merchantId, userId) {
      const row = sql.get`SELECT * FROM record_links WHERE merchant_id = ${merchantId} AND user_id = ${userId}`
      return row ? toRecordLink(row, codec) : null
    },

    async findLinksByRecords(merchantId, recordIds) {
      if (recordIds.length === 0) return []
      // One statement for any number of ids: the list travels as a JSON array.
      return sql.all`SELECT * FROM record_links WHERE merchant_id = ${merchantId}
          AND record_id IN (SELECT value FROM json_each(${jsonList(recordIds)}))
        ORDER BY record_id`.map((row) => toRecordLink(row, codec))
    },

    async findLinksByUsers(merchantId, userIds) {
      if (userIds.length === 0) return []
      return sql.all`SELECT * FROM record_links WHERE merchant_id = ${merchantId}
          AND user_id IN (SELECT value FROM json_each(${jsonList(userIds)}))
        ORDER BY user_id, record_id`.map((row) => toRecordLink(row, codec))
    },

    async findLinksByEmails(merchantId, emails) {
      const normalized = emails.map(normalizeEmail).filter((e) => e !== null)
      if (normalized.length === 0) return []
      return sql.all`SELECT * FROM record_links WHERE merchant_id = ${merchantId}
          AND email_norm IN (SELECT value FROM json_each(${jsonList(normalized)}))
        ORDER BY email_norm, record_id`.map((row) => toRecordLink(row, codec))
    },

    async listLinksPage(merchantId, options = {}) {
      const limit = clampKeysetLimit(options.limit)
      const rows = options.after == null
        ? sql.all`SELECT * FROM record_links WHERE merchant_id = ${merchantId} ORDER BY record_id LIMIT ${limit + 1}`
        : sql.all`SELECT * FROM record_links WHERE merchant_id = ${merchantId} AND record_id > ${options.after}
            ORDER BY record_id LIMIT ${limit + 1}`
      return toKeysetPage(rows.map((row) => toRecordLink(row, codec)), limit, (l) => l.recordId)
    },

    async forgetUser(merchantId, userId) {
      ctx.transaction(() => {
        sql.run`DELETE FROM field_states WHERE merchant_id = ${merchantId}
          AND record_id IN (SELECT record_id FROM record_links WHERE merchant_id = ${merchantId} AND user_id = ${userId})`
        sql.run`DELETE FROM traces WHERE merchant_id = ${merchantId} AND (user_id = ${userId}
          OR record_id IN (SELECT record_id FROM record_links WHERE merchant_id = ${merchantId} AND user_id = ${userId}))`
        sql.run`DELETE FROM record_links WHERE merchant_id = ${merchantId} AND user_id = ${userId}`
        sql.run`DELETE FROM export_versions WHERE merchant_id = ${merchantId} AND user_id = ${userId}`
        sql.run`DELETE FROM parked_changes WHERE merchant_id = ${merchantId} AND key = ${userId}`
      })
    },
  }
}
