/**
 * Create, update and delete of several records in one transaction, with per-record results
 * (`{ id, success, errors }`) and `allOrNone` roll-back, shared by the single-record
 * endpoints, sObject Collections and the admin API.
 */
import { recordError, ROLLED_BACK, type RecordError } from './errors.ts'
import { normaliseId } from './ids.ts'
import { findSObject, findSObjectByPrefix, type SObjectDef } from './metadata.ts'
import type { Org } from './orgs.ts'
import type { RecordStore, StoredRecord, Transaction } from './records.ts'
import { applyCreateDefaults, validateRecord } from './validate.ts'

export interface SaveResult {
  /** Absent on a failed create or update; `null` when an injected record error failed it. */
  id?: string | null
  success: boolean
  errors: RecordError[]
}

/**
 * Injected per-record errors (the `record-error` fault): given the results so far and each
 * record's body as sent (`Id` included), turn some successes into failures.
 */
export type RecordFaultHook = (results: SaveResult[], bodyOf: (index: number) => Record<string, unknown>, operation: 'create' | 'update' | 'delete') => void

export interface DmlOptions {
  allOrNone: boolean
  /** Admin writes may set audit dates. */
  admin?: boolean
  /** Fault: the first `n` records fail with UNABLE_TO_LOCK_ROW. */
  lockFailures?: number
  /** Fault: records fail with a chosen status code. */
  recordFaults?: RecordFaultHook
}

export const LOCK_ERROR = () => recordError('UNABLE_TO_LOCK_ROW', 'unable to obtain exclusive access to this record or 1 records')

/** Results when everything was rolled back: bad records keep their errors, the rest say so. */
function rollBack(results: SaveResult[]): SaveResult[] {
  return results.map((r) => (r.success ? { success: false, errors: [ROLLED_BACK] } : r))
}

interface Finish<T> {
  results: SaveResult[]
  planned: (T | null)[]
  options: DmlOptions
  operation: 'create' | 'update' | 'delete'
  bodyOf: (index: number) => Record<string, unknown>
  apply: (item: T, index: number) => string
}

function finish<T>({ results, planned, options, operation, bodyOf, apply }: Finish<T>): SaveResult[] {
  const lockFailures = options.lockFailures ?? 0
  for (let i = 0; i < Math.min(lockFailures, results.length); i++) {
    if (results[i]!.success) results[i] = { success: false, errors: [LOCK_ERROR()] }
  }
  options.recordFaults?.(results, bodyOf, operation)
  if (options.allOrNone && results.some((r) => !r.success)) return rollBack(results)
  return results.map((r, i) => (r.success ? { id: apply(planned[i]!, i), success: true, errors: [] } : r))
}

export interface CreateItem { type: string | undefined; body: Record<string, unknown> }

export function createRecords(tx: Transaction, items: CreateItem[], options: DmlOptions): SaveResult[] {
  const planned: ({ def: SObjectDef; values: Record<string, unknown> } | null)[] = []
  const results: SaveResult[] = items.map((item) => {
    planned.push(null)
    const def = item.type ? findSObject(item.type) : undefined
    if (!def) return { success: false, errors: [recordError('INVALID_TYPE', 'Must send a concrete entity type.')] }
    if (item.body.Id !== undefined || item.body.id !== undefined) {
      return { success: false, errors: [recordError('INVALID_FIELD', 'cannot specify Id in an insert call', ['Id'])] }
    }
    const { values, errors } = validateRecord(def, item.body, 'create', { admin: options.admin })
    if (errors.length > 0) return { success: false, errors }
    applyCreateDefaults(def, values)
    planned[planned.length - 1] = { def, values }
    return { success: true, errors: [] }
  })
  return finish({ results, planned, options, operation: 'create', bodyOf: (i) => items[i]!.body, apply: (p) => tx.create(p.def, p.values).id })
}

export interface UpdateItem { type: string | undefined; id: unknown; body: Record<string, unknown> }

/** Find the record an id names, or the per-record error for it. */
export function lookup(store: RecordStore, org: Org, type: string | undefined, rawId: unknown):
  { def: SObjectDef; record: StoredRecord } | { error: RecordError; id?: string } {
  if (rawId === undefined || rawId === null || rawId === '') return { error: recordError('MISSING_ARGUMENT', 'Id not specified in an update call', []) }
  const id = typeof rawId === 'string' ? normaliseId(rawId) : null
  const def = type ? findSObject(type) : id ? findSObjectByPrefix(id) : undefined
  if (!def) {
    return id
      ? { error: recordError('INVALID_CROSS_REFERENCE_KEY', 'invalid cross reference id', []) }
      : { error: recordError('MALFORMED_ID', `malformed id ${String(rawId)}`, ['Id']) }
  }
  if (!id || id.slice(0, 3) !== def.keyPrefix) {
    return { error: recordError('MALFORMED_ID', `${def.label} ID: id value of incorrect type: ${String(rawId)}`, ['Id']) }
  }
  const record = store.find(org, def.name, id)
  if (!record) return { error: recordError('INVALID_CROSS_REFERENCE_KEY', 'invalid cross reference id', []), id }
  if (record.deleted) return { error: recordError('ENTITY_IS_DELETED', 'entity is deleted', []), id }
  return { def, record }
}

export function updateRecords(store: RecordStore, org: Org, tx: Transaction, items: UpdateItem[], options: DmlOptions): SaveResult[] {
  const planned: ({ def: SObjectDef; record: StoredRecord; values: Record<string, unknown> } | null)[] = []
  const results: SaveResult[] = items.map((item) => {
    planned.push(null)
    const found = lookup(store, org, item.type, item.id)
    if ('error' in found) return { success: false, errors: [found.error] }
    const { values, errors } = validateRecord(found.def, item.body, 'update', { admin: options.admin })
    if (errors.length > 0) return { success: false, errors }
    planned[planned.length - 1] = { ...found, values }
    return { success: true, errors: [] }
  })
  return finish({
    results, planned, options, operation: 'update', bodyOf: (i) => ({ Id: items[i]!.id, ...items[i]!.body }),
    apply: (p) => {
      tx.update(p.def, p.record, p.values)
      return p.record.id
    },
  })
}

export function deleteRecords(store: RecordStore, org: Org, tx: Transaction, ids: string[], options: DmlOptions): SaveResult[] {
  const planned: ({ def: SObjectDef; record: StoredRecord } | null)[] = []
  const results: SaveResult[] = ids.map((rawId) => {
    planned.push(null)
    const found = lookup(store, org, undefined, rawId)
    if ('error' in found) return { ...(found.id ? { id: found.id } : {}), success: false, errors: [found.error] }
    planned[planned.length - 1] = found
    return { id: found.record.id, success: true, errors: [] }
  })
  return finish({
    results, planned, options, operation: 'delete', bodyOf: (i) => ({ Id: ids[i] }),
    apply: (p) => {
      tx.delete(p.def, p.record)
      return p.record.id
    },
  })
}
