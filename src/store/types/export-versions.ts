/**
 * Per user AND property, the version of the last Cohort change exported (contracts §8:
 * never one watermark per user). Written by commitExportBatch only.
 */

export interface ExportVersion {
  merchantId: string
  userId: string
  property: string
  /** The Cohort event version that set it; a change applies only with a higher one. */
  version: number
  /** The value exported, so an import event carrying it back can be told for an echo. */
  value: unknown
  /** The Salesforce record it went to, when known. */
  recordId: string | null
  updatedAt: Date
}

export type NewExportVersion = Omit<ExportVersion, 'merchantId' | 'updatedAt'> & { merchantId?: string }

export interface ExportVersionStore {
  /** Export versions of any of the users, ordered by user id, then property. */
  getExportVersions(merchantId: string, userIds: string[]): Promise<ExportVersion[]>
}
