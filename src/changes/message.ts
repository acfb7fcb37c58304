/**
 * The messages of `salesforce.changes` (contracts §3): one per changed record, key
 * `{merchantId}:{recordId}`, so one record's changes are handled in order. Three sources
 * write them and one importer reads them:
 * - `cdc`: a Change Data Capture event, fanned out per record id (src/cdc);
 * - `load`: a record read by a first full load or a resync (`changeType` `SNAPSHOT`);
 * - `fetch`: a record read by id or email (an update without its email, a gap event, a
 *   Cohort user created later in mode `existing`), also `SNAPSHOT`.
 *
 * Values are in `fields`, flat (compound components under their own field names:
 * `Name.FirstName` → `FirstName`, `MailingAddress.City` → `MailingCity`). For an UPDATE only
 * the fields Salesforce lists in `changedFields` are there, a cleared field as `null`.
 * docs/kafka.md documents the shape; `v` changes when it does.
 */
import { z } from 'zod'

export const CHANGE_MESSAGE_VERSION = 1 as const

/** Change types as Salesforce sends them, plus SNAPSHOT for records read by query. */
export const ChangeType = z.enum(['CREATE', 'UPDATE', 'DELETE', 'UNDELETE', 'GAP_CREATE', 'GAP_UPDATE', 'GAP_DELETE', 'GAP_UNDELETE', 'GAP_OVERFLOW', 'SNAPSHOT'])
export type ChangeType = z.infer<typeof ChangeType>

export const ChangeMessageSchema = z.object({
  v: z.literal(CHANGE_MESSAGE_VERSION),
  source: z.enum(['cdc', 'load', 'fetch']),
  merchantId: z.string().min(1),
  orgId: z.string(),
  /** The sObject (`Contact`, `Member__c`). */
  object: z.string().min(1),
  recordId: z.string().min(1),
  changeType: ChangeType,
  /** CDC only: the channel and the event's replay id. */
  channel: z.string().nullable(),
  replayId: z.number().nullable(),
  /** Commit time in ms: the event's `commitTimestamp`, or the record's `SystemModstamp`. */
  commitTimestamp: z.number(),
  /** 0 for snapshots. */
  commitNumber: z.number(),
  /** 0 for snapshots. */
  sequenceNumber: z.number(),
  /** `changeOrigin` of the event ('' for snapshots and UI edits). */
  changeOrigin: z.string(),
  commitUser: z.string(),
  transactionKey: z.string(),
  /** Flat field names as the event listed them (UPDATE only). */
  changedFields: z.array(z.string()),
  fields: z.record(z.string(), z.unknown()),
  /** When the bridge received the event or read the record (ms), for latency figures. */
  receivedAt: z.number(),
  /** The load run that read it (`load` only). */
  loadId: z.string().optional(),
})
export type ChangeMessage = z.infer<typeof ChangeMessageSchema>

/** The Kafka key of a record's changes. */
export const changeKeyOf = (merchantId: string, recordId: string) => `${merchantId}:${recordId}`

/**
 * The order of a change per record and field (contracts §8): by commit timestamp, then commit
 * number, then sequence number, as one (changedAt, sequence) pair the store compares.
 * Salesforce's commit timestamps are whole seconds, so the commit number decides within one:
 * the sequence packs it with the sequence number (`commitNumber × 100 + sequenceNumber`, safe up
 * to commit numbers of 9 × 10^13; real ones are about 10^13), else the commit number alone.
 * Snapshots have sequence 0, so a change event of the same second is newer.
 */
export function orderOf(m: Pick<ChangeMessage, 'commitTimestamp' | 'commitNumber' | 'sequenceNumber'>): { changedAt: Date; sequence: number } {
  const commit = Math.max(0, Math.trunc(m.commitNumber))
  const seq = Math.min(Math.max(0, Math.trunc(m.sequenceNumber)), 99)
  const packed = commit * 100 + seq
  const sequence = Number.isSafeInteger(packed) ? packed : Number.isSafeInteger(commit) ? commit : seq
  return { changedAt: new Date(m.commitTimestamp), sequence }
}

/** Parse one Kafka value; a reason instead when it is not a change message. */
export function parseChangeMessage(value: Buffer | string | null): { ok: true; message: ChangeMessage } | { ok: false; reason: string } {
  if (value === null) return { ok: false, reason: 'empty message' }
  let json: unknown
  try {
    json = JSON.parse(value.toString())
  } catch {
    return { ok: false, reason: 'not JSON' }
  }
  // Nearly every message is well formed: checked by hand, zod only says why one is not.
  const fast = asChangeMessage(json)
  if (fast) return { ok: true, message: fast }
  const parsed = ChangeMessageSchema.safeParse(json)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    return { ok: false, reason: `not a change message: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'}` }
  }
  return { ok: true, message: parsed.data }
}

const CHANGE_TYPES: ReadonlySet<unknown> = new Set(ChangeType.options)
const SOURCES: ReadonlySet<unknown> = new Set(['cdc', 'load', 'fetch'])
const isString = (v: unknown): v is string => typeof v === 'string'
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)

/**
 * `json` as the schema would give it back (the same checks, unknown keys left out, keys in
 * schema order), or null when any check fails. The importer parses every message of every
 * batch; this is the part of that zod made several times dearer than JSON.parse.
 */
function asChangeMessage(json: unknown): ChangeMessage | null {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return null
  const m = json as Record<string, unknown>
  const { fields, changedFields } = m
  if (m.v !== CHANGE_MESSAGE_VERSION || !SOURCES.has(m.source) || !CHANGE_TYPES.has(m.changeType)) return null
  if (!isString(m.merchantId) || m.merchantId === '' || !isString(m.object) || m.object === '' || !isString(m.recordId) || m.recordId === '') return null
  if (!isString(m.orgId) || !isString(m.changeOrigin) || !isString(m.commitUser) || !isString(m.transactionKey)) return null
  if (!(m.channel === null || isString(m.channel)) || !(m.replayId === null || isNumber(m.replayId))) return null
  if (!isNumber(m.commitTimestamp) || !isNumber(m.commitNumber) || !isNumber(m.sequenceNumber) || !isNumber(m.receivedAt)) return null
  if (!Array.isArray(changedFields) || !changedFields.every(isString)) return null
  if (fields === null || typeof fields !== 'object' || Object.getPrototypeOf(fields) !== Object.prototype) return null
  if (!(m.loadId === undefined || isString(m.loadId))) return null
  return {
    v: CHANGE_MESSAGE_VERSION,
    source: m.source as ChangeMessage['source'],
    merchantId: m.merchantId,
    orgId: m.orgId,
    object: m.object,
    recordId: m.recordId,
    changeType: m.changeType as ChangeType,
    channel: m.channel,
    replayId: m.replayId,
    commitTimestamp: m.commitTimestamp,
    commitNumber: m.commitNumber,
    sequenceNumber: m.sequenceNumber,
    changeOrigin: m.changeOrigin,
    commitUser: m.commitUser,
    transactionKey: m.transactionKey,
    changedFields: changedFields as string[],
    fields: fields as Record<string, unknown>,
    receivedAt: m.receivedAt,
    ...(m.loadId === undefined ? {} : { loadId: m.loadId }),
  }
}
