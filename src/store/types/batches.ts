/**
 * One transaction per batch: an importer or exporter hands over everything one Kafka fetch
 * produced, and either all of it is stored or none of it (contracts §8, style habit 13).
 * Entries may leave out `merchantId`; when given it must be the batch's.
 */
import type { ErrorResolution, NewRecordError, RecordError } from './errors.ts'
import type { NewExportVersion } from './export-versions.ts'
import type { FieldState, FieldStateKey } from './field-states.ts'
import type { LinkResult, NewLink, RecordLink } from './links.ts'
import type { ParkedAck } from './parked.ts'
import type { NewTraceEntry } from './traces.ts'

type Loose<T extends { merchantId: string }> = Omit<T, 'merchantId'> & { merchantId?: string }

export type BatchLink = Loose<NewLink>
export type BatchFieldState = Loose<FieldState>
export type BatchTrace = Loose<NewTraceEntry>
export type BatchError = Loose<NewRecordError>

interface BatchCommon {
  merchantId: string
  /** Applied in order with linkRecords' rules. */
  links?: BatchLink[]
  /** Written per field only when newer by (changedAt, sequence). */
  fieldStates?: BatchFieldState[]
  traces?: BatchTrace[]
  /** Recorded after `resolveErrors`, so a record resolved and refused again stays open. */
  errors?: BatchError[]
  resolveErrors?: ErrorResolution[]
}

/**
 * An import batch. Unlinks apply before links: the caller coalesces a record's events, so a
 * record appears in one of the two.
 */
export interface ImportBatch extends BatchCommon {
  /** Record ids whose links are removed (deleted in Salesforce). */
  unlinks?: string[]
  /** When given, the merchant's `lastImportAt` moves forward to it in the same transaction. */
  importedAt?: Date
}

export interface ExportBatch extends BatchCommon {
  /** Written per (user, property) only when the version is higher. */
  exportVersions?: NewExportVersion[]
  /** When given, the merchant's `lastExportAt` moves forward to it in the same transaction. */
  exportedAt?: Date
  /**
   * Parked changes this batch applied, acknowledged in the same transaction with
   * ackParkedChanges' rule (an entry parked again meanwhile stays).
   */
  parkedAcks?: ParkedAck[]
}

export interface BatchResult {
  links: LinkResult[]
  /** The field states actually written (newer than the stored ones). */
  fieldStates: FieldStateKey[]
  errors: RecordError[]
  resolvedErrors: number
}

export interface ImportBatchResult extends BatchResult {
  /** The links the unlinks removed (records that had none are left out). */
  unlinked: RecordLink[]
}

export interface ExportBatchResult extends BatchResult {
  /** The export versions actually written (higher than the stored ones). */
  exportVersions: Array<{ userId: string; property: string }>
  /** How many of `parkedAcks` were deleted. */
  parkedAcked: number
}

export interface BatchStore {
  /** Store an import batch in one transaction, all or nothing. */
  commitImportBatch(batch: ImportBatch): Promise<ImportBatchResult>
  /** Store an export batch in one transaction, all or nothing. */
  commitExportBatch(batch: ExportBatch): Promise<ExportBatchResult>
}
