/**
 * The `record-error` fault in sObject Collections: the next `count` records of matching
 * writes fail with the fault's `errorCode`, in Salesforce's per-record shape
 * `{ id: null, success: false, errors: [{ statusCode, message, fields }] }` (a delete keeps
 * its `id`); the other records succeed, or, with `allOrNone`, roll back as usual. Records
 * that already fail for their own reason are not counted, and `where` narrows the candidates
 * to records whose body carries those values.
 */
import type { RecordFaultHook } from './dml.ts'
import { recordError } from './errors.ts'
import { RECORD_FAULT_KINDS, type Fault, type FaultBook } from './faults.ts'

/** The usual message of a code, when the fault names none. */
const MESSAGES: Record<string, string> = {
  DUPLICATES_DETECTED: 'Use one of these records?',
  DUPLICATE_VALUE: 'duplicate value found: an existing record has the same value',
  FIELD_CUSTOM_VALIDATION_EXCEPTION: 'The record does not meet a validation rule of this org.',
  UNABLE_TO_LOCK_ROW: 'unable to obtain exclusive access to this record or 1 records',
  ENTITY_IS_DELETED: 'entity is deleted',
  INVALID_CROSS_REFERENCE_KEY: 'invalid cross reference id',
  CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY: 'A trigger of this org failed on the record.',
  STORAGE_LIMIT_EXCEEDED: 'storage limit exceeded',
}

export const defaultRecordErrorMessage = (code: string): string => MESSAGES[code] ?? `${code} (injected by the Salesforce stand-in)`

function same(actual: unknown, wanted: unknown): boolean {
  if (wanted === null) return actual === null || actual === undefined || actual === ''
  if (typeof wanted === 'string' && typeof actual === 'string') return actual.trim().toLowerCase() === wanted.trim().toLowerCase()
  return actual === wanted
}

function matchesWhere(body: Record<string, unknown>, where: Record<string, unknown>): boolean {
  const byLower = new Map(Object.entries(body).map(([k, v]) => [k.toLowerCase(), v]))
  return Object.entries(where).every(([k, v]) => same(byLower.get(k.toLowerCase()), v))
}

const isRecordFault = (f: Fault) => RECORD_FAULT_KINDS.has(f.kind)

/** The hook for one collection write, or undefined when no `record-error` is pending for it. */
export function recordFaultHook(book: FaultBook, method: string, path: string): RecordFaultHook | undefined {
  const pending = book.matching(method, path, isRecordFault)
  if (pending.length === 0) return undefined
  return (results, bodyOf, operation) => {
    for (const fault of pending) {
      const code = fault.errorCode ?? 'UNKNOWN_EXCEPTION'
      let used = 0
      for (let i = 0; i < results.length && used < fault.count; i++) {
        const result = results[i]!
        if (!result.success) continue
        if (fault.where && !matchesWhere(bodyOf(i), fault.where)) continue
        results[i] = {
          id: operation === 'delete' ? (result.id ?? null) : null,
          success: false,
          errors: [recordError(code, fault.message ?? defaultRecordErrorMessage(code), fault.fields ?? [])],
        }
        used++
      }
      book.useUp(fault, used)
    }
  }
}
