/**
 * Change Data Capture: turns the record store's committed changes into change events as
 * Salesforce sends them over CometD (`data.payload` = `ChangeEventHeader` + record fields)
 * and publishes each on `/data/ChangeEvents` and the object's own channel.
 *
 * - CREATE / UNDELETE carry every non-empty field plus the system fields; UPDATE only the
 *   changed fields (a cleared field as `null`) and `LastModifiedDate`; DELETE only the header.
 * - Name and address components arrive nested under their compound field (`Name.FirstName`).
 * - Date-times are ISO-8601 with `Z`, as in Salesforce's CometD examples.
 * - Changes of one request are collected until the request's synchronous work is done (a
 *   microtask). Then the same UPDATE or DELETE of several records of one object in the same
 *   second is merged into one event listing every record id. Sequence numbers count the
 *   events of the transaction.
 * - Only objects selected for CDC in their org publish (Setup › Change Data Capture): every
 *   standard object by default, no custom object until selected (`CdcSelection`).
 */
import { createHash, randomUUID } from 'node:crypto'
import type { EventBus } from './event-bus.ts'
import type { FieldDef } from './fields.ts'
import { findSObject, SOBJECTS, type SObjectDef } from './metadata.ts'
import type { ChangeEvent } from './records.ts'

/** The record id overflow events carry. */
export const OVERFLOW_RECORD_ID = '000000000000000AAA'

export const ALL_CHANGE_EVENTS = '/data/ChangeEvents'

/** `/data/ContactChangeEvent`, or `/data/Member__ChangeEvent` for `Member__c`. */
export function channelOf(entityName: string): string {
  return entityName.endsWith('__c') ? `/data/${entityName.slice(0, -3)}__ChangeEvent` : `/data/${entityName}ChangeEvent`
}

/** The object a single-entity CDC channel carries, if the stand-in serves it. */
export function entityOfChannel(channel: string): SObjectDef | undefined {
  const custom = /^\/data\/(\w+?)__ChangeEvent$/.exec(channel)
  if (custom) return findSObject(`${custom[1]}__c`)
  const standard = /^\/data\/(\w+)ChangeEvent$/.exec(channel)
  const def = standard ? findSObject(standard[1]!) : undefined
  return def && !def.custom && def.name === standard![1] ? def : undefined
}

/** A stable 22-character schema id per entity or channel (real ones look the same). */
const schemaIds = new Map<string, string>()

export function schemaIdOf(name: string): string {
  let id = schemaIds.get(name)
  if (id === undefined) {
    id = createHash('sha256').update(`schema:${name}`).digest('base64url').slice(0, 22)
    if (schemaIds.size < 10_000) schemaIds.set(name, id)
  }
  return id
}

export interface ChangeEventHeader {
  entityName: string
  recordIds: string[]
  changeType: string
  changeOrigin: string
  transactionKey: string
  sequenceNumber: number
  commitTimestamp: number
  commitNumber: number
  commitUser: string
  changedFields: string[]
}

/** `FirstName` → `FirstName` (of Name); `MailingCity` → `City` (of MailingAddress). */
export function componentOf(field: FieldDef): string {
  const compound = field.compoundFieldName ?? ''
  if (!compound.endsWith('Address')) return field.name
  return field.name.slice(compound.length - 'Address'.length)
}

/** `2024-05-29T16:26:40.000+0000` → `2024-05-29T16:26:40.000Z`. */
const toZulu = (value: unknown) => (typeof value === 'string' && value.endsWith('+0000') ? `${value.slice(0, -5)}Z` : value)

/** Record fields of a change in CometD form: compounds nested, date-times in `Z`. */
const byExactName = new WeakMap<SObjectDef, Map<string, FieldDef>>()

function fieldNamed(def: SObjectDef, name: string): FieldDef | undefined {
  let fields = byExactName.get(def)
  if (!fields) byExactName.set(def, (fields = new Map(def.fields.map((f) => [f.name, f]))))
  return fields.get(name) ?? def.fieldsByLower.get(name.toLowerCase())
}

export function bodyOf(def: SObjectDef, values: Record<string, unknown>): Record<string, unknown> {
  const body: Record<string, unknown> = {}
  for (const name in values) {
    const value = values[name]
    const field = fieldNamed(def, name)
    if (!field) {
      body[name] = value
      continue
    }
    if (field.derived === 'name' || field.type === 'address') continue
    const v = field.type === 'datetime' ? toZulu(value) : value
    if (field.compoundFieldName) {
      const nested = (body[field.compoundFieldName] ??= {}) as Record<string, unknown>
      nested[componentOf(field)] = v
    } else {
      body[field.name] = v
    }
  }
  return body
}

/**
 * The entities selected for Change Data Capture, per org. Standard objects (Contact, Lead,
 * Account) start selected, as the contracts pin; custom objects (Member__c) start unselected,
 * as every entity does in a real org until an administrator adds it.
 */
export interface CdcSelection {
  isSelected(orgId: string, entityName: string): boolean
  /** Select (`true`) or remove (`false`) an object for one org. */
  select(orgId: string, entityName: string, enabled: boolean): void
  /** The selected objects of an org, in describe order. */
  selected(orgId: string): string[]
  /** Back to the defaults in every org. */
  reset(): void
}

export const selectedByDefault = (def: SObjectDef): boolean => !def.custom

export function createCdcSelection(): CdcSelection {
  const overrides = new Map<string, Map<string, boolean>>()
  const isSelected = (orgId: string, entityName: string) => {
    const def = findSObject(entityName)
    if (!def) return false
    return overrides.get(orgId)?.get(def.name) ?? selectedByDefault(def)
  }
  return {
    isSelected,
    select(orgId, entityName, enabled) {
      const def = findSObject(entityName)
      if (!def) return
      let org = overrides.get(orgId)
      if (!org) overrides.set(orgId, (org = new Map()))
      org.set(def.name, enabled)
    },
    selected: (orgId) => SOBJECTS.filter((def) => isSelected(orgId, def.name)).map((def) => def.name),
    reset: () => overrides.clear(),
  }
}

export interface CdcPublisher {
  /** The record store's listener. */
  handleChange(change: ChangeEvent): void
  /** Publish a gap (`GAP_UPDATE`…) or overflow (`GAP_OVERFLOW`) event; returns its replay id (the caller checks the selection). */
  publishGap(input: { orgId: string; def: SObjectDef; kind: 'gap' | 'overflow'; recordIds: string[]; changeType: string; commitUser: string }): number
  /** Publish a raw event (`payload` = the event's `data.payload`) on any channel; `/event/…` ones get an `EventUuid`. */
  publishRaw(orgId: string, channel: string, payload: unknown): number
}

const MERGEABLE = new Set(['UPDATE', 'DELETE'])
const AUDIT = new Set(['LastModifiedDate', 'LastModifiedById'])

export function createCdcPublisher(bus: EventBus, selection: CdcSelection): CdcPublisher {
  let pending: ChangeEvent[] = []
  let commitNumber = 11_824_400_000 + Math.floor(Math.random() * 100_000)

  const publish = (orgId: string, header: ChangeEventHeader, body: Record<string, unknown>, def: SObjectDef): number => {
    const schema = schemaIdOf(def.name)
    const bodyJson = JSON.stringify(body)
    const payloadJson = `{"ChangeEventHeader":${JSON.stringify(header)}${bodyJson === '{}' ? '}' : `,${bodyJson.slice(1)}`}`
    return bus.org(orgId).publish([ALL_CHANGE_EVENTS, channelOf(def.name)], (replayId) =>
      `{"schema":"${schema}","payload":${payloadJson},"event":{"replayId":${replayId}}}`).replayId
  }

  const nextCommitNumber = () => (commitNumber += 1 + Math.floor(Math.random() * 7))

  /** Key of what a change did, apart from the record it did it to. */
  const sameChangeKey = (c: ChangeEvent) => {
    const rest: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(c.values)) if (!AUDIT.has(k)) rest[k] = v
    return `${c.orgId}|${c.transactionKey}|${c.entityName}|${c.changeType}|${Math.floor(c.commitTimestamp / 1000)}|${c.changedFields.join(',')}|${JSON.stringify(rest)}`
  }

  const flush = () => {
    const changes = pending
    pending = []
    const sequences = new Map<string, number>()
    for (let i = 0; i < changes.length; i++) {
      const first = changes[i]!
      const def = findSObject(first.entityName)
      // Not selected for CDC: no event at all, on either channel.
      if (!def || !selection.isSelected(first.orgId, def.name)) continue
      const recordIds = [...first.recordIds]
      if (MERGEABLE.has(first.changeType)) {
        const key = sameChangeKey(first)
        while (i + 1 < changes.length && changes[i + 1]!.changeType === first.changeType && sameChangeKey(changes[i + 1]!) === key) {
          recordIds.push(...changes[++i]!.recordIds)
        }
      }
      const sequenceNumber = (sequences.get(first.transactionKey) ?? 0) + 1
      sequences.set(first.transactionKey, sequenceNumber)
      const header: ChangeEventHeader = {
        entityName: def.name, recordIds, changeType: first.changeType, changeOrigin: first.changeOrigin,
        transactionKey: first.transactionKey, sequenceNumber, commitTimestamp: first.commitTimestamp,
        commitNumber: nextCommitNumber(), commitUser: first.commitUser, changedFields: first.changedFields,
      }
      publish(first.orgId, header, first.changeType === 'DELETE' ? {} : bodyOf(def, first.values), def)
    }
  }

  return {
    handleChange(change) {
      if (pending.length === 0) queueMicrotask(flush)
      pending.push(change)
    },
    publishGap({ orgId, def, kind, recordIds, changeType, commitUser }) {
      const type = kind === 'overflow' ? 'GAP_OVERFLOW' : changeType.startsWith('GAP_') ? changeType : `GAP_${changeType}`
      const header: ChangeEventHeader = {
        entityName: def.name, recordIds: kind === 'overflow' ? [OVERFLOW_RECORD_ID] : recordIds, changeType: type,
        changeOrigin: '', transactionKey: randomTransactionKey(), sequenceNumber: 1, commitTimestamp: Date.now(),
        commitNumber: nextCommitNumber(), commitUser, changedFields: [],
      }
      return publish(orgId, header, {}, def)
    },
    publishRaw(orgId, channel, payload) {
      const schema = schemaIdOf(channel)
      const payloadJson = JSON.stringify(payload ?? {})
      // Platform events (`/event/…`) also carry `data.event.EventUuid`; change events only `replayId`.
      const uuid = channel.startsWith('/event/') ? `"EventUuid":"${randomUUID()}",` : ''
      return bus.org(orgId).publish([channel], (replayId) => `{"schema":"${schema}","payload":${payloadJson},"event":{${uuid}"replayId":${replayId}}}`).replayId
    },
  }
}

function randomTransactionKey(): string {
  const hex = createHash('sha256').update(`${Date.now()}:${Math.random()}`).digest('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`
}
