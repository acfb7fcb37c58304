/**
 * Change Data Capture events → change messages. Headers are read tolerantly (contracts §3):
 * unknown keys are allowed, missing numbers default to 0, and the branch is on `changeType`.
 * An event is fanned out per record id, except a wildcard (`003*`) or an overflow event
 * (`GAP_OVERFLOW`, placeholder id): those name no record and start a resync instead
 * (contracts §8), so they come back as `resync`.
 */
import { z } from 'zod'
import { CHANGE_MESSAGE_VERSION, ChangeType, type ChangeMessage } from './message.ts'

/** The placeholder record id of overflow events. */
export const OVERFLOW_RECORD_ID = '000000000000000AAA'

const Header = z.looseObject({
  entityName: z.string().optional(),
  recordIds: z.array(z.string()).default([]),
  changeType: z.string(),
  changeOrigin: z.string().nullish(),
  transactionKey: z.string().nullish(),
  sequenceNumber: z.number().nullish(),
  commitTimestamp: z.number().nullish(),
  commitNumber: z.number().nullish(),
  commitUser: z.string().nullish(),
  changedFields: z.array(z.string()).nullish(),
})

/** A delivered CometD change event, as far as the bridge reads it (unknown keys kept). */
export const DeliveredEventSchema = z.looseObject({
  payload: z.looseObject({ ChangeEventHeader: Header }),
  event: z.looseObject({ replayId: z.number() }),
})
type Delivered = z.infer<typeof DeliveredEventSchema>

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v)
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string')
const nullishOr = (v: unknown, is: (v: unknown) => boolean) => v === undefined || v === null || is(v)

/**
 * `data` as the schema reads it, or null when any check fails: the same checks by hand, since
 * every delivered event goes through here (zod then only says why one is invalid).
 */
function asDelivered(data: unknown): Delivered | null {
  if (!isRecord(data) || !isRecord(data.payload) || !isRecord(data.event) || !isNumber(data.event.replayId)) return null
  const h = data.payload.ChangeEventHeader
  if (!isRecord(h) || typeof h.changeType !== 'string') return null
  if (!(h.entityName === undefined || typeof h.entityName === 'string') || !(h.recordIds === undefined || isStrings(h.recordIds))) return null
  if (!nullishOr(h.changeOrigin, (v) => typeof v === 'string') || !nullishOr(h.transactionKey, (v) => typeof v === 'string') || !nullishOr(h.commitUser, (v) => typeof v === 'string')) return null
  if (!nullishOr(h.sequenceNumber, isNumber) || !nullishOr(h.commitTimestamp, isNumber) || !nullishOr(h.commitNumber, isNumber) || !nullishOr(h.changedFields, isStrings)) return null
  const header = { ...h, recordIds: h.recordIds ?? [] } as Delivered['payload']['ChangeEventHeader']
  return { ...data, payload: { ...data.payload, ChangeEventHeader: header }, event: data.event as Delivered['event'] }
}

export interface EventContext {
  merchantId: string
  orgId: string
  object: string
  channel: string
  receivedAt: number
  /** Fields to keep (the email and the mapped fields); all when left out. */
  keep?: string[]
}

export type FromEvent =
  | { kind: 'changes'; replayId: number; messages: ChangeMessage[] }
  | { kind: 'resync'; replayId: number; changeType: string; reason: string }
  | { kind: 'invalid'; replayId: number | null; reason: string }

/** `Name.FirstName` → `FirstName`; `MailingAddress.City` → `MailingCity`; `Address.City` → `City`. */
export function flatFieldName(compound: string, component: string): string {
  if (compound === 'Name') return component
  if (compound.endsWith('Address')) return `${compound.slice(0, -'Address'.length)}${component}`
  // Geolocation custom fields: Location__c.Latitude → Location__Latitude__s.
  if (compound.endsWith('__c')) return `${compound.slice(0, -3)}__${component}__s`
  return component
}

/** A payload's record fields, compounds flattened. */
export function flattenFields(payload: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(payload)) {
    if (key === 'ChangeEventHeader') continue
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const [component, v] of Object.entries(value as Record<string, unknown>)) out[flatFieldName(key, component)] = v
    } else {
      out[key] = value
    }
  }
  return out
}

const flatChanged = (name: string) => {
  const dot = name.indexOf('.')
  return dot < 0 ? name : flatFieldName(name.slice(0, dot), name.slice(dot + 1))
}

/** One delivered CometD message (`data` of a `/data/…ChangeEvent` message) → what to do with it. */
export function fromEvent(data: unknown, context: EventContext): FromEvent {
  const fast = asDelivered(data)
  const parsed = fast ? { success: true as const, data: fast } : DeliveredEventSchema.safeParse(data)
  if (!parsed.success) {
    const replayId = (data as { event?: { replayId?: unknown } } | null)?.event?.replayId
    return { kind: 'invalid', replayId: typeof replayId === 'number' ? replayId : null, reason: `not a change event: ${parsed.error.issues[0]?.path.join('.') ?? ''} ${parsed.error.issues[0]?.message ?? ''}`.trim() }
  }
  const { payload, event } = parsed.data
  const header = payload.ChangeEventHeader
  const replayId = event.replayId
  const type = ChangeType.safeParse(header.changeType)
  if (!type.success || type.data === 'SNAPSHOT') return { kind: 'invalid', replayId, reason: `unknown changeType ${header.changeType}` }
  if (type.data === 'GAP_OVERFLOW') return { kind: 'resync', replayId, changeType: type.data, reason: 'overflow event' }
  if (header.recordIds.some((id) => id.endsWith('*') || id === OVERFLOW_RECORD_ID)) return { kind: 'resync', replayId, changeType: type.data, reason: `wildcard record ids (${header.recordIds.join(', ')})` }
  if (header.recordIds.length === 0) return { kind: 'invalid', replayId, reason: 'no record ids' }

  let all = flattenFields(payload)
  if (context.keep) {
    const kept: Record<string, unknown> = {}
    for (const name of context.keep) if (name in all) kept[name] = all[name]
    all = kept
  }
  const changedFields = type.data === 'UPDATE' ? (header.changedFields ?? []).map(flatChanged).filter((f) => !context.keep || context.keep.includes(f)) : []
  let fields = all
  if (type.data === 'UPDATE') {
    // What changed is what changedFields lists, not what the payload carries (enriched fields).
    fields = {}
    for (const name of changedFields) if (name in all) fields[name] = all[name]
  } else if (type.data.startsWith('GAP_') || type.data === 'DELETE') {
    fields = {}
  }
  const base = {
    v: CHANGE_MESSAGE_VERSION,
    source: 'cdc' as const,
    merchantId: context.merchantId,
    orgId: context.orgId,
    object: header.entityName ?? context.object,
    changeType: type.data,
    channel: context.channel,
    replayId,
    commitTimestamp: header.commitTimestamp ?? context.receivedAt,
    commitNumber: header.commitNumber ?? 0,
    sequenceNumber: header.sequenceNumber ?? 0,
    changeOrigin: header.changeOrigin ?? '',
    commitUser: header.commitUser ?? '',
    transactionKey: header.transactionKey ?? '',
    changedFields,
    fields,
    receivedAt: context.receivedAt,
  }
  return { kind: 'changes', replayId, messages: [...new Set(header.recordIds)].map((recordId) => ({ ...base, recordId })) }
}

/** A record read by query (REST or Bulk) → a SNAPSHOT message. `SystemModstamp` orders it. */
export function fromRecord(record: Record<string, unknown>, context: { merchantId: string; orgId: string; object: string; source: 'load' | 'fetch'; receivedAt: number; loadId?: string }): ChangeMessage {
  const { attributes: _attributes, Id, SystemModstamp, ...rest } = record
  const stamp = typeof SystemModstamp === 'string' ? Date.parse(SystemModstamp) : NaN
  return {
    v: CHANGE_MESSAGE_VERSION,
    source: context.source,
    merchantId: context.merchantId,
    orgId: context.orgId,
    object: context.object,
    recordId: String(Id),
    changeType: 'SNAPSHOT',
    channel: null,
    replayId: null,
    commitTimestamp: Number.isNaN(stamp) ? context.receivedAt : stamp,
    commitNumber: 0,
    sequenceNumber: 0,
    changeOrigin: '',
    commitUser: '',
    transactionKey: '',
    changedFields: [],
    fields: rest,
    receivedAt: context.receivedAt,
    ...(context.loadId === undefined ? {} : { loadId: context.loadId }),
  }
}
