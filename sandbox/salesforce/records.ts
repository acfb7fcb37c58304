/**
 * The in-memory record store of both orgs, and the single door every write goes through
 * (`Transaction.create/update/delete/undelete` → `recordChange`), so the change feed of part 2
 * (CDC over CometD) can hook in: each change names the entity, record ids, change type,
 * changed fields, the caller (API user + `client=` of `Sforce-Call-Options`, or the UI user)
 * and a transaction key.
 *
 * Records are kept compact (one small object per record, values stored only when not null)
 * so a million Contacts fit in a few hundred MB.
 */
import { randomBytes } from 'node:crypto'
import { makeId } from './ids.ts'
import type { FieldDef } from './fields.ts'
import type { SObjectDef } from './metadata.ts'
import type { Org, SandboxUser } from './orgs.ts'
import { valuesOf } from './read.ts'
import { formatDateTime, formatValue } from './values.ts'

export interface StoredRecord {
  id: string
  /** Canonical field name → stored value; absent means null. */
  fields: Record<string, unknown>
  createdAt: number
  createdById: string
  modifiedAt: number
  modifiedById: string
  deleted: boolean
}

/** Who makes a change: an API call (with its `client=`), or the UI user through the admin API. */
export interface Caller {
  user: SandboxUser
  kind: 'api' | 'ui'
  /** API family for changeOrigin (`rest`, later `bulkapi`). */
  api?: string
  apiVersion?: string
  /** The `client=` of `Sforce-Call-Options`, when sent. */
  client?: string
}

export type ChangeType = 'CREATE' | 'UPDATE' | 'DELETE' | 'UNDELETE'

/** One committed change, in the terms of a CDC change event header. */
export interface ChangeEvent {
  orgId: string
  entityName: string
  recordIds: string[]
  changeType: ChangeType
  /** UPDATE: the fields written (`Name.FirstName`, `MailingAddress.City` for components), LastModifiedDate, and LastModifiedById when the modifier changed. Empty otherwise. */
  changedFields: string[]
  /** Values in REST form: CREATE/UNDELETE all non-null fields; UPDATE the changed ones (null = cleared). */
  values: Record<string, unknown>
  caller: Caller
  /** `com/salesforce/api/rest/62.0;client=x`, or `` for UI changes. */
  changeOrigin: string
  transactionKey: string
  sequenceNumber: number
  commitTimestamp: number
  commitUser: string
}

export type ChangeListener = (event: ChangeEvent) => void

export interface Transaction {
  readonly key: string
  create(def: SObjectDef, values: Record<string, unknown>): StoredRecord
  update(def: SObjectDef, record: StoredRecord, values: Record<string, unknown>): void
  delete(def: SObjectDef, record: StoredRecord): void
  undelete(def: SObjectDef, record: StoredRecord): void
}

export interface RecordStore {
  /** Records of one object in one org, in creation order (deleted ones included). */
  table(org: Org, objectName: string): Map<string, StoredRecord>
  find(org: Org, objectName: string, id: string): StoredRecord | undefined
  /** Start a write; `publish: false` skips the change feed (bulk seeding). */
  begin(org: Org, caller: Caller, options?: { publish?: boolean }): Transaction
  /** Subscribe to committed changes; returns the unsubscribe function. */
  onChange(listener: ChangeListener): () => void
  reset(): void
}

/** `Name.FirstName`, `MailingAddress.City`, or the plain name of a field outside a compound. */
function changedFieldName(f: FieldDef): string {
  const compound = f.compoundFieldName
  if (!compound) return f.name
  const component = compound.endsWith('Address') ? f.name.slice(compound.length - 'Address'.length) : f.name
  return `${compound}.${component}`
}

export function changeOriginOf(caller: Caller): string {
  if (caller.kind === 'ui') return ''
  const origin = `com/salesforce/api/${caller.api ?? 'rest'}/${caller.apiVersion ?? '62.0'}`
  return caller.client ? `${origin};client=${caller.client}` : origin
}

export function createRecordStore(): RecordStore {
  const orgs = new Map<string, Map<string, Map<string, StoredRecord>>>()
  const counters = new Map<string, number>()
  let listeners: ChangeListener[] = []
  let lastStamp = 0

  const table = (org: Org, objectName: string) => {
    let tables = orgs.get(org.id)
    if (!tables) orgs.set(org.id, (tables = new Map()))
    let rows = tables.get(objectName)
    if (!rows) tables.set(objectName, (rows = new Map()))
    return rows
  }

  // Strictly increasing, so SystemModstamp orders changes even within one millisecond.
  const now = () => (lastStamp = Math.max(Date.now(), lastStamp + 1))

  const nextId = (org: Org, prefix: string) => {
    const n = (counters.get(org.id) ?? 100_000) + 1
    counters.set(org.id, n)
    return makeId(prefix, org.pod, n)
  }

  const emit = (event: ChangeEvent) => {
    for (const listener of listeners) {
      // A throwing listener must not break the write that caused the event.
      try {
        listener(event)
      } catch {
        /* ignored on purpose */
      }
    }
  }

  function begin(org: Org, caller: Caller, options: { publish?: boolean } = {}): Transaction {
    const key = randomBytes(16).toString('hex').replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5')
    const publish = options.publish !== false
    let sequence = 0
    const changeOrigin = changeOriginOf(caller)

    /** The one function every change goes through. */
    const recordChange = (def: SObjectDef, record: StoredRecord, changeType: ChangeType, changed: FieldDef[], at: number, previousModifier?: string) => {
      if (!publish || listeners.length === 0) return
      sequence++
      let values: Record<string, unknown> = {}
      let changedFields: string[] = []
      if (changeType === 'CREATE' || changeType === 'UNDELETE') values = valuesOf(def, record)
      if (changeType === 'UPDATE') {
        for (const f of changed) values[f.name] = formatValue(f, record.fields[f.name] ?? null)
        values.LastModifiedDate = formatDateTime(record.modifiedAt)
        changedFields = [...changed.map(changedFieldName), 'LastModifiedDate']
        // Salesforce lists LastModifiedById only when someone else made the previous change.
        if (previousModifier !== undefined && previousModifier !== record.modifiedById) {
          values.LastModifiedById = record.modifiedById
          changedFields.push('LastModifiedById')
        }
      }
      emit({
        orgId: org.id, entityName: def.name, recordIds: [record.id], changeType, changedFields, values, caller,
        changeOrigin, transactionKey: key, sequenceNumber: sequence, commitTimestamp: at, commitUser: caller.user.id,
      })
    }

    const write = (def: SObjectDef, record: StoredRecord, values: Record<string, unknown>): FieldDef[] => {
      const changed: FieldDef[] = []
      for (const [name, value] of Object.entries(values)) {
        const field = def.fieldsByLower.get(name.toLowerCase())
        if (!field) continue
        const before = record.fields[field.name] ?? null
        if (value === null || value === undefined) delete record.fields[field.name]
        else record.fields[field.name] = value
        if (before !== (value ?? null)) changed.push(field)
      }
      return changed
    }

    const setDeleted = (def: SObjectDef, record: StoredRecord, deleted: boolean): void => {
      const at = now()
      record.deleted = deleted
      record.modifiedAt = at
      record.modifiedById = caller.user.id
      recordChange(def, record, deleted ? 'DELETE' : 'UNDELETE', [], at)
    }

    return {
      key,
      create(def, values) {
        const at = now()
        const record: StoredRecord = {
          id: nextId(org, def.keyPrefix), fields: {}, createdAt: at, createdById: caller.user.id,
          modifiedAt: at, modifiedById: caller.user.id, deleted: false,
        }
        write(def, record, values)
        table(org, def.name).set(record.id, record)
        recordChange(def, record, 'CREATE', [], at)
        return record
      },
      update(def, record, values) {
        const at = now()
        // An audit date set through the admin API holds only until the next change.
        delete record.fields.LastModifiedDate
        const changed = write(def, record, values)
        const previousModifier = record.modifiedById
        record.modifiedAt = at
        record.modifiedById = caller.user.id
        recordChange(def, record, 'UPDATE', changed, at, previousModifier)
      },
      delete: (def, record) => setDeleted(def, record, true),
      undelete: (def, record) => setDeleted(def, record, false),
    }
  }

  return {
    table,
    find: (org, objectName, id) => table(org, objectName).get(id),
    begin,
    onChange(listener) {
      listeners = [...listeners, listener]
      return () => {
        listeners = listeners.filter((l) => l !== listener)
      }
    },
    reset() {
      // Id counters survive a reset so an id is never handed out twice.
      orgs.clear()
    },
  }
}
