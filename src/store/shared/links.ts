/**
 * The one-to-one link rule, planned in memory for both backends: given the stored links a
 * batch can touch (same record or same user) and the batch, what to delete, what to write
 * and what to report. Backends run the plan inside one transaction.
 */
import type { LinkResult, NewLink, RecordLink } from '../types/index.ts'

/** Emails are compared trimmed and lower-cased; an empty one is no email. */
export function normalizeEmail(email: string | null | undefined): string | null {
  if (email === null || email === undefined) return null
  const normalized = email.trim().toLowerCase()
  return normalized === '' ? null : normalized
}

export interface LinkRow extends NewLink {
  emailNorm: string | null
}

export interface LinkPlan {
  /** Stored links to delete first: removed by the batch, or rewritten by it. */
  deleteRecordIds: string[]
  /** Links to insert after the delete. */
  rows: LinkRow[]
  /** One per batch entry, in order. */
  results: LinkResult[]
}

/**
 * Apply `links` in order to `existing` (every stored link of the merchant whose record or
 * user is in the batch; no other link can be affected). Deleting before inserting means no
 * statement ever sees two links of one user, whatever order the rows are written in.
 */
export function planLinks(existing: RecordLink[], links: NewLink[]): LinkPlan {
  const byRecord = new Map<string, { link: NewLink; touched: boolean }>()
  const byUser = new Map<string, string>()
  for (const link of existing) {
    byRecord.set(link.recordId, { link, touched: false })
    byUser.set(link.userId, link.recordId)
  }
  const results: LinkResult[] = []
  for (const link of links) {
    const previousUser = byRecord.get(link.recordId)?.link.userId
    const oldRecord = byUser.get(link.userId)
    const displaced = oldRecord !== undefined && oldRecord !== link.recordId ? oldRecord : null
    if (displaced !== null) byRecord.delete(displaced)
    if (previousUser !== undefined && previousUser !== link.userId) byUser.delete(previousUser)
    byRecord.set(link.recordId, { link, touched: true })
    byUser.set(link.userId, link.recordId)
    results.push({
      recordId: link.recordId,
      userId: link.userId,
      displacedRecordId: displaced,
      previousUserId: previousUser !== undefined && previousUser !== link.userId ? previousUser : null,
    })
  }
  const deleteRecordIds = existing.filter((l) => byRecord.get(l.recordId)?.touched !== false).map((l) => l.recordId)
  const rows: LinkRow[] = []
  for (const { link, touched } of byRecord.values()) {
    if (!touched) continue
    rows.push({ merchantId: link.merchantId, sobject: link.sobject, recordId: link.recordId, userId: link.userId, email: link.email ?? null, emailNorm: normalizeEmail(link.email) })
  }
  return { deleteRecordIds, rows, results }
}
