/** The audit log: settings and connection changes. */
import type { Page, PageOptions } from './base.ts'

/** One line of the audit log. */
export interface AuditEntry {
  id: string
  merchantId: string
  actor: string
  action: string
  details: unknown
  at: Date
}

export interface AuditStore {
  appendAudit(entry: Omit<AuditEntry, 'id' | 'at'>): Promise<AuditEntry>
  listAudit(merchantId: string, options?: PageOptions): Promise<Page<AuditEntry>>
}
