/**
 * What a resync adds to `readRecords` (src/salesforce/read.ts): its window as a SOQL condition
 * (`SystemModstamp >= from` with `soqlDateTime` of src/salesforce, read through `queryAll` so
 * records deleted meanwhile are seen) and the message of a record read: a SNAPSHOT, or a
 * DELETE for a record in the recycle bin, so the importer unlinks it.
 */
import { fromRecord, type ChangeMessage } from '../changes/index.ts'
import type { SalesforceRecord } from '../salesforce/index.ts'

/**
 * A record read by a resync as a change message: a SNAPSHOT, or a DELETE (ordered by its
 * `SystemModstamp`, the time of the delete) for a record in the recycle bin.
 */
export function resyncMessageOf(record: SalesforceRecord, context: { merchantId: string; orgId: string; object: string; receivedAt: number; loadId: string }): ChangeMessage {
  const { IsDeleted, ...rest } = record
  const message = fromRecord(rest, { ...context, source: 'load' })
  return IsDeleted === true ? { ...message, changeType: 'DELETE', fields: {} } : message
}
