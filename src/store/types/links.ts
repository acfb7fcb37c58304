/** Salesforce records linked to Cohort users: one record per user per merchant, at most. */
import type { KeysetOptions, KeysetPage, WalkOptions } from './base.ts'

/** A Salesforce record linked to a Cohort user. */
export interface RecordLink {
  merchantId: string
  sobject: string
  recordId: string
  userId: string
  /** As given; lookups by email compare it trimmed and lower-cased. */
  email: string | null
  updatedAt: Date
}

export type NewLink = Omit<RecordLink, 'updatedAt'>

/** What one link call changed, so the importer can report it. */
export interface LinkResult {
  recordId: string
  userId: string
  /**
   * The record the user was linked to before, now unlinked (a user has one record per
   * merchant); null when the user had no other record.
   */
  displacedRecordId: string | null
  /** The user this record was linked to before, when it was another one. */
  previousUserId: string | null
}

export interface LinkStore {
  /**
   * Link a record to a user. The record's previous link is replaced, and a link of the same
   * user to another record is removed (reported as `displacedRecordId`).
   */
  linkRecord(link: NewLink): Promise<LinkResult>
  /**
   * Many links in one transaction, applied in order with linkRecord's rules (a later entry
   * for the same user or record wins); one result per entry, in order.
   */
  linkRecords(links: NewLink[]): Promise<LinkResult[]>
  /** Remove a record's link (deleted in Salesforce); returns the removed link or null. */
  unlinkRecord(merchantId: string, recordId: string): Promise<RecordLink | null>
  findLinkByRecord(merchantId: string, recordId: string): Promise<RecordLink | null>
  findLinkByUser(merchantId: string, userId: string): Promise<RecordLink | null>
  /** Links of any of the records, ordered by record id. */
  findLinksByRecords(merchantId: string, recordIds: string[]): Promise<RecordLink[]>
  /** Links of any of the users, ordered by user id. */
  findLinksByUsers(merchantId: string, userIds: string[]): Promise<RecordLink[]>
  /**
   * Links whose email matches any of `emails`, compared trimmed and lower-cased; ordered by
   * normalized email, then record id (several records may share an email).
   */
  findLinksByEmails(merchantId: string, emails: string[]): Promise<RecordLink[]>
  /** One keyset page of the merchant's links, ordered by record id (bytewise). */
  listLinksPage(merchantId: string, options?: KeysetOptions<string>): Promise<KeysetPage<RecordLink, string>>
  /**
   * Every link of the merchant in record id order, as pages of up to `pageSize` links (the
   * next page is fetched while the caller works on this one): bounded memory for any size.
   */
  walkLinks(merchantId: string, options?: WalkOptions<string>): AsyncGenerator<RecordLink[]>
  /**
   * user.deleted: forget the user's links, the field states and traces of its records, its
   * export versions and its parked export changes.
   */
  forgetUser(merchantId: string, userId: string): Promise<void>
}
