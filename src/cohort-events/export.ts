/**
 * One flush of a merchant's coalesced changes (≤ 200 users) to Salesforce, batch-shaped end to
 * end: the API budget checked, the export versions of the users (one store read), the
 * records resolved (resolve.ts), their field states (one store read), values converted to
 * the fields' types (convert.ts), at most one `PATCH` and one `POST` collections call
 * (collections.ts), one store transaction (`commitExportBatch`: links, field states, export
 * versions, traces, errors, resolved errors, `lastExportAt`).
 *
 * Per user and property a change applies only with a version above the last applied one
 * (contracts §8), so a replay writes nothing. A value equal to the last one known in
 * Salesforce (the record's field state) is not written. A two-way field whose Salesforce
 * change is newer than the Cohort change (or as new: a tie goes to Salesforce, contracts §2)
 * keeps Salesforce's value; a Cohort change that wins records the value it overwrote in the
 * trace. A value that came from Salesforce (`source: "salesforce"`) is written back only where
 * Salesforce holds another value: the record's field state differs, or our last export of
 * another value landed after the Salesforce change (a concurrent edit crossed it). The backfill (`export-backfill`) calls {@link exportChanges} too, with users read
 * from Cohort.
 */
import type { Connection } from 'jsforce'
import type { Config } from '../config.ts'
import { AppError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import type { ApiBudget, DescribeService, FieldDetail, SalesforceConnections } from '../salesforce/index.ts'
import type { Settings } from '../settings/index.ts'
import type { BatchError, BatchFieldState, BatchLink, BatchTrace, ErrorResolution, FieldState, NewExportVersion, ParkedAck, Store } from '../store/index.ts'
import type { PendingValue, UserChange } from './coalesce.ts'
import { PAUSING_CODES, writeRecords, type RecordResult } from './collections.ts'
import { sameFieldValue, toFieldValue, type FieldValue } from './convert.ts'
import { resolveRecords, type Resolution } from './resolve.ts'

export interface ExportDeps {
  config: Config
  store: Store
  connections: SalesforceConnections
  describe: DescribeService
  budget: ApiBudget
  logger: Logger
}

/** Why a merchant's export pauses, and until when (null: until cleared). */
export interface ExportPauseRequest {
  reason: 'salesforce.limit-exceeded' | 'api-budget' | 'salesforce.needs-reauth'
  until: Date | null
  message: string
}

export interface ExportOutcome {
  /** Records updated / created in Salesforce. */
  updated: number
  created: number
  /** Users whose changes were already applied or equal to what Salesforce has. */
  unchanged: number
  skipped: Record<string, number>
  errors: number
  /** Collections calls sent (retries included). */
  calls: number
  /** Set when the merchant must pause; `remaining` holds the changes not handled. */
  pause?: ExportPauseRequest
  /**
   * Set when the connection went away (disconnected) after this flush had started: what was
   * written is stored, `remaining` holds the changes not handled (the caller parks them or
   * tries the page again; they must not be dropped).
   */
  stopped?: 'salesforce.not-connected'
  remaining: UserChange[]
  /** Set when the batch's transaction acknowledged `options.parked` (all but `remaining`). */
  parkedAcked?: true
}

export interface ExportOptions {
  signal?: AbortSignal
  /** Backoff of the collections calls (tests shorten it). */
  retry?: { retries?: number; minDelayMs?: number; maxDelayMs?: number }
  /** Awaited before users without a link are looked up in Salesforce (resolve.ts). */
  beforeLookup?: () => Promise<void>
  /**
   * The parked entries the changes come from (the drain): acknowledged in the batch's
   * transaction, all but those of `remaining`. When the flush ends before its transaction
   * (nothing to write, a pause up front), `parkedAcked` is unset and the caller acks.
   */
  parked?: ParkedAck[]
}

/** What a per-record export error keeps so that a retry can send the change again. */
export interface ExportErrorPayload {
  userId: string
  email: string | null
  properties: Record<string, { value: unknown; version: number; occurredAt: string }>
}

interface Write {
  change: UserChange
  recordId: string | null
  resolution: Resolution | null
  body: Record<string, unknown>
  /** Fields written, with the value sent and what Salesforce had (when known). */
  fields: Array<{ field: string; property: string; value: FieldValue; was: unknown; pending: PendingValue }>
  /** Versions to record on success (written and unchanged properties). */
  versions: Array<{ property: string; version: number; value: FieldValue }>
  idFieldWritten: boolean
}

const bump = (counts: Record<string, number>, key: string, by = 1) => void (counts[key] = (counts[key] ?? 0) + by)

const payloadOf = (change: UserChange): ExportErrorPayload => ({
  userId: change.userId,
  email: change.email,
  properties: Object.fromEntries(Object.entries(change.properties).map(([k, v]) => [k, { value: v.value, version: v.version, occurredAt: v.occurredAt.toISOString() }])),
})

/** The `mode: all` defaults contracts §2 fills itself: LastName from the email, Company `Unknown`. */
function requiredDefaults(fields: Map<string, FieldDetail>, email: string): Record<string, string> {
  const out: Record<string, string> = {}
  const required = (name: string) => {
    const f = fields.get(name)
    return f !== undefined && f.createable && !f.nillable && !f.defaultedOnCreate
  }
  if (required('LastName')) out.LastName = (email.split('@')[0] || email).slice(0, fields.get('LastName')!.length || 80)
  if (required('Company')) out.Company = 'Unknown'
  return out
}

export async function exportChanges(deps: ExportDeps, settings: Settings, changes: UserChange[], options: ExportOptions = {}): Promise<ExportOutcome> {
  const { store, config } = deps
  const merchantId = settings.merchantId
  const exp = settings.export
  const object = settings.import.object!
  const emailField = settings.import.emailField!
  const idField = exp.cohortUserIdField!
  const outcome: ExportOutcome = { updated: 0, created: 0, unchanged: 0, skipped: {}, errors: 0, calls: 0, remaining: [] }
  if (changes.length === 0) return outcome
  const log = deps.logger.child({ merchantId })

  const connection = await store.getConnection(merchantId)
  if (!connection || connection.state === 'disconnected' || connection.refreshTokenEnc === null) {
    bump(outcome.skipped, 'not-connected', changes.length)
    return outcome
  }
  if (connection.state === 'needs-reauth') {
    return { ...outcome, pause: { reason: 'salesforce.needs-reauth', until: null, message: 'the Salesforce connection needs re-authorisation' }, remaining: changes }
  }

  // The budget: the bridge's own calls of the last 24 hours against its share of the org's.
  const usage = await deps.budget.usage(connection.orgId)
  const percent = exp.apiBudgetPercent ?? config.salesforce.apiBudgetPercent
  if (usage.orgMax !== null && usage.used >= Math.floor((usage.orgMax * percent) / 100)) {
    const until = new Date(Date.now() + config.salesforce.limitsPollMs)
    return { ...outcome, pause: { reason: 'api-budget', until, message: `the bridge used ${usage.used} of its ${percent} % share of the org's ${usage.orgMax} daily API requests` }, remaining: changes }
  }

  const fieldsOf = new Map<string, string[]>()
  for (const m of exp.mappings) fieldsOf.set(m.property, [...(fieldsOf.get(m.property) ?? []), m.field])

  // Only what is newer than the last applied version, per property.
  const exported = new Map((await store.getExportVersions(merchantId, changes.map((c) => c.userId))).map((v) => [`${v.userId}\u0000${v.property}`, v]))
  const applied = new Map([...exported].map(([key, v]) => [key, v.version]))
  const live: UserChange[] = []
  for (const change of changes) {
    const properties: Record<string, PendingValue> = {}
    for (const [property, pending] of Object.entries(change.properties)) {
      if (!fieldsOf.has(property)) continue
      if (pending.version <= (applied.get(`${change.userId}\u0000${property}`) ?? -1)) continue
      properties[property] = pending
    }
    if (Object.keys(properties).length === 0 && !change.ensure) {
      outcome.unchanged++
      continue
    }
    live.push({ ...change, properties })
  }
  if (live.length === 0) return outcome

  const traces: BatchTrace[] = []
  const errors: BatchError[] = []
  const links: BatchLink[] = []
  const fieldStates: BatchFieldState[] = []
  const versions: NewExportVersion[] = []
  const resolved: ErrorResolution[] = []
  const fail = (change: UserChange, recordId: string | null, code: string, message: string) => {
    errors.push({ direction: 'export', recordId, userId: change.userId, email: change.email, code, message, payload: payloadOf(change) })
    traces.push({ direction: 'export', recordId, userId: change.userId, email: change.email, outcome: 'error', details: { code, message } })
    outcome.errors++
  }

  let conn: Connection | undefined
  const openConnection = async () => (conn ??= await deps.connections.get(merchantId))
  let fields: Map<string, FieldDetail>
  let resolutions: Map<string, Resolution>
  try {
    fields = new Map((await deps.describe.fieldDetails(merchantId, object)).map((f) => [f.name, f]))
    resolutions = await resolveRecords({ store, connection: openConnection, merchantId, object, emailField, cohortUserIdField: idField, ...(options.beforeLookup ? { beforeLookup: options.beforeLookup } : {}) }, live)
  } catch (err) {
    const paused = pauseOf(err, config)
    if (paused) return { ...outcome, pause: paused, remaining: live }
    if (isNotConnected(err)) return { ...outcome, stopped: 'salesforce.not-connected', remaining: live }
    throw err
  }

  const recordIds = [...new Set([...resolutions.values()].map((r) => r.recordId))]
  const statesOf = new Map<string, Map<string, FieldState>>()
  for (const s of await store.getFieldStatesOf(merchantId, recordIds)) {
    let map = statesOf.get(s.recordId)
    if (!map) statesOf.set(s.recordId, (map = new Map()))
    map.set(s.field, s)
  }

  const updates: Write[] = []
  const creates: Write[] = []
  for (const change of live) {
    const resolution = resolutions.get(change.userId) ?? null
    const recordId = resolution?.recordId ?? null
    if (!resolution) {
      if (exp.mode !== 'all') {
        bump(outcome.skipped, 'no-salesforce-record')
        traces.push({ direction: 'export', recordId: null, userId: change.userId, email: change.email, outcome: 'skipped', details: { reason: 'no-salesforce-record', mode: 'existing' } })
        continue
      }
      // Values that came from Salesforce never create a record there.
      if (!change.ensure && Object.values(change.properties).every((p) => p.fromSalesforce)) {
        outcome.unchanged++
        continue
      }
      if (!change.email) {
        bump(outcome.skipped, 'missing-email')
        traces.push({ direction: 'export', recordId: null, userId: change.userId, email: null, outcome: 'skipped', details: { reason: 'missing-email' } })
        continue
      }
    }
    const states = recordId ? statesOf.get(recordId) : undefined
    const write: Write = { change, recordId, resolution, body: { attributes: { type: object } }, fields: [], versions: [], idFieldWritten: false }
    let refused = false
    const dropped: Array<Record<string, unknown>> = []
    for (const [property, pending] of Object.entries(change.properties)) {
      for (const field of fieldsOf.get(property) ?? []) {
        const detail = fields.get(field)
        if (!detail) {
          fail(change, recordId, 'INVALID_FIELD', `${object}.${field} no longer exists or is not visible to the connected user`)
          refused = true
          continue
        }
        const converted = toFieldValue(pending.value, detail)
        if (!converted.ok) {
          fail(change, recordId, converted.code, converted.message)
          refused = true
          continue
        }
        const state = states?.get(field)
        // The bridge's own import: written back only where a concurrent edit crossed it — our
        // last export of another value landed after the Salesforce change this import carries
        // (it overwrote it there), or our own export since holds another value (Cohort took
        // this one after it). A newer import (another value in the field state) wins instead.
        const last = exported.get(`${change.userId}\u0000${property}`)
        const overwritten = state !== undefined && last !== undefined && last.recordId === recordId && sameFieldValue(state.value, converted.value) && !sameFieldValue(last.value, converted.value) && state.changedAt.getTime() <= last.updatedAt.getTime()
        const crossed = state !== undefined && state.direction === 'export' && !sameFieldValue(state.value, converted.value)
        if (pending.fromSalesforce && !overwritten && !crossed) {
          write.versions.push({ property, version: pending.version, value: converted.value })
          continue
        }
        // A two-way field: Salesforce's change is as new or newer, it stays (contracts §2).
        if (!pending.fromSalesforce && state && state.direction === 'import' && state.changedAt.getTime() >= pending.occurredAt.getTime() && !sameFieldValue(state.value, converted.value)) {
          dropped.push({ field, property, kept: state.value, dropped: converted.value, salesforceChangedAt: state.changedAt.toISOString(), cohortOccurredAt: pending.occurredAt.toISOString() })
          continue
        }
        if (state && sameFieldValue(state.value, converted.value)) {
          write.versions.push({ property, version: pending.version, value: converted.value })
          continue
        }
        write.body[field] = converted.value
        write.fields.push({ field, property, value: converted.value, was: state?.value, pending })
        write.versions.push({ property, version: pending.version, value: converted.value })
      }
    }
    if (dropped.length > 0) traces.push({ direction: 'export', recordId, userId: change.userId, email: change.email, outcome: 'skipped', details: { reason: 'salesforce-newer', fields: dropped } })
    if (refused && write.fields.length === 0 && write.versions.length === 0 && resolution) continue
    if (!resolution) {
      // Mode all: a new record with the email, the Cohort id, the mapped values and the defaults.
      const email = change.email!.trim()
      Object.assign(write.body, requiredDefaults(fields, email), exp.createDefaults, { [emailField]: email, [idField]: change.userId })
      for (const f of write.fields) write.body[f.field] = f.value
      for (const v of write.versions) {
        // Unchanged values cannot be known for a new record: send every value.
        for (const field of fieldsOf.get(v.property) ?? []) if (!(field in write.body)) write.body[field] = v.value
      }
      write.idFieldWritten = true
      creates.push(write)
      continue
    }
    if (resolution.via !== 'cohort-id' && states?.get(idField)?.value !== change.userId) {
      write.body[idField] = change.userId
      write.idFieldWritten = true
    }
    write.body.Id = resolution.recordId
    if (Object.keys(write.body).length <= 2) {
      // Nothing to send: record what was applied (unchanged values) and the link.
      finish(write, { ok: true, id: resolution.recordId }, false)
      continue
    }
    updates.push(write)
  }

  function finish(write: Write, result: RecordResult, wrote: boolean): void {
    const { change } = write
    if (!result.ok) {
      fail(change, write.recordId, result.code, result.message)
      return
    }
    const recordId = result.id
    const created = write.resolution === null
    for (const v of write.versions) versions.push({ userId: change.userId, property: v.property, version: v.version, value: v.value, recordId })
    const newest = Object.values(change.properties).reduce((a, p) => Math.max(a, p.occurredAt.getTime()), 0)
    for (const f of write.fields) fieldStates.push({ recordId, field: f.field, value: f.value, changedAt: f.pending.occurredAt, sequence: f.pending.version, direction: 'export' })
    if (write.idFieldWritten || created) fieldStates.push({ recordId, field: idField, value: change.userId, changedAt: new Date(newest || Date.now()), sequence: 0, direction: 'export' })
    if (write.resolution?.via !== 'link') links.push({ sobject: object, recordId, userId: change.userId, email: change.email })
    resolved.push({ direction: 'export', userId: change.userId })
    if (!wrote) {
      outcome.unchanged++
      if (write.resolution?.via !== 'link') traces.push({ direction: 'export', recordId, userId: change.userId, email: change.email, outcome: 'linked', details: { via: write.resolution?.via } })
      return
    }
    if (created) outcome.created++
    else outcome.updated++
    traces.push({
      direction: 'export', recordId, userId: change.userId, email: change.email, outcome: created ? 'created' : 'updated',
      details: { via: write.resolution?.via ?? 'created', fields: write.fields.map((f) => ({ field: f.field, property: f.property, value: f.value, version: f.pending.version, ...(f.was === undefined ? {} : { overwritten: f.was }) })) },
    })
  }

  let pause: ExportPauseRequest | undefined
  let stopped = false
  const unsent: UserChange[] = []
  const writeOptions = { ...options.retry, ...(options.signal ? { signal: options.signal } : {}), onCall: () => void outcome.calls++ }
  for (const [method, batch] of [['PATCH', updates], ['POST', creates]] as const) {
    if (batch.length === 0) continue
    if (pause || stopped) {
      unsent.push(...batch.map((w) => w.change))
      continue
    }
    try {
      const results = await writeRecords(await openConnection(), method, batch.map((w) => w.body), writeOptions)
      batch.forEach((w, i) => finish(w, results[i]!, true))
    } catch (err) {
      // A disconnect between the PATCH and the POST (the refresh finds no tokens): the
      // updates already written are stored below, the rest goes back to the caller.
      const paused = pauseOf(err, config)
      if (paused) pause = paused
      else if (isNotConnected(err)) stopped = true
      else throw err
      unsent.push(...batch.map((w) => w.change))
    }
  }

  if (pause || stopped) {
    // What was not sent is parked by the caller: its errors and traces are not recorded now.
    const waiting = new Set(unsent.map((c) => c.userId))
    const keep = <T extends { userId?: string | null }>(list: T[]) => list.filter((e) => !waiting.has(e.userId ?? ''))
    errors.splice(0, errors.length, ...keep(errors))
    traces.splice(0, traces.length, ...keep(traces))
    if (pause) outcome.pause = pause
    else outcome.stopped = 'salesforce.not-connected'
    outcome.remaining = unsent
    log.warn({ reason: pause?.reason ?? 'salesforce.not-connected', unsent: unsent.length }, pause ? 'export pauses' : 'the Salesforce connection went away mid-flush; what was written is stored, the rest is handed back')
  }

  const unsentUsers = new Set(outcome.remaining.map((c) => c.userId))
  await store.commitExportBatch({
    merchantId,
    ...(options.parked ? { parkedAcks: options.parked.filter((p) => !unsentUsers.has(p.key)) } : {}),
    links,
    fieldStates,
    exportVersions: versions,
    traces,
    errors,
    resolveErrors: resolved,
    ...(outcome.updated + outcome.created > 0 ? { exportedAt: new Date() } : {}),
  })
  if (options.parked) outcome.parkedAcked = true
  return outcome
}

const isNotConnected = (err: unknown) => err instanceof AppError && err.code === 'salesforce.not-connected'

/** A failure that pauses the merchant (limit, budget, re-authorisation), or null. */
export function pauseOf(err: unknown, config: Config): ExportPauseRequest | null {
  if (!(err instanceof AppError) || !PAUSING_CODES.has(err.code)) return null
  if (err.code === 'salesforce.limit-exceeded') return { reason: 'salesforce.limit-exceeded', until: new Date(Date.now() + config.salesforce.limitsPollMs), message: err.message }
  if (err.code === 'salesforce.needs-reauth') return { reason: 'salesforce.needs-reauth', until: null, message: err.message }
  return null
}
