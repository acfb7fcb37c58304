/**
 * One merchant's share of a Kafka batch of `salesforce.changes`, applied to Cohort:
 * reduce per record (reduce.ts) → read again what must be read (gap events, updates without
 * the email of an unlinked record) → drop echoes of the bridge's own exports → resolve users
 * (link, else email) → one Cohort batch (`source: "salesforce"`) → one store transaction
 * (links, unlinks, field states, traces, errors, `lastImportAt`). Batch-shaped end to end:
 * a handful of store reads, at most one Salesforce query, one or two Cohort batch calls.
 *
 * Only what Cohort acknowledged is recorded as applied, so a redelivered batch (a crash before
 * the offsets were committed) applies the rest again, and a create whose answer was lost
 * comes back as `user.already-exists` and becomes an update of that user: no duplicate.
 */
import { chunks, mapConcurrently } from '../batches.ts'
import { BATCH_CHUNK, type BatchOperation, type BatchResult, type CohortClient, type PropertyValue } from '../cohort/index.ts'
import { fromRecord, type ChangeMessage } from '../changes/index.ts'
import type { Config } from '../config.ts'
import { AppError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import { selectByIds, type SalesforceConnections } from '../salesforce/index.ts'
import type { Settings } from '../settings/index.ts'
import { normalizeEmail, type BatchError, type BatchFieldState, type BatchLink, type BatchTrace, type FieldState, type Store } from '../store/index.ts'
import { convertValue, sameValue } from './convert.ts'
import { compareOrder, DELETED_FIELD, reduceRecord, type Order, type ReducedRecord } from './reduce.ts'
import { checkEmail, type UserDirectory } from './resolve.ts'

export interface ApplyDeps {
  config: Config
  store: Store
  cohort: CohortClient
  connections: SalesforceConnections
  users: UserDirectory
  logger: Logger
}

/** What one merchant's share of a batch did, for metrics and tests. */
export interface ApplyOutcome {
  created: number
  updated: number
  unlinked: number
  /** Fields not imported because they were the bridge's own export coming back. */
  echoes: number
  skipped: Record<string, number>
  errors: number
  /** Messages whose changes Cohort acknowledged (for latency figures). */
  applied: ChangeMessage[]
}

interface Target {
  record: ReducedRecord
  email: { email: string; normalized: string } | null
  userId: string | null
  /** The user's link to write (new, moved, or its email changed). */
  link: boolean
  properties: Record<string, PropertyValue>
  /** Fields whose values are in `properties`. */
  fields: string[]
  /** Cohort created the user for it. */
  created?: boolean
}

/** `com/salesforce/api/rest/62.0;client=cohort-bridge/` → is it this bridge's client? */
export function isOwnOrigin(changeOrigin: string, clientName: string): boolean {
  for (const part of changeOrigin.split(';')) {
    const [key, value] = part.trim().split('=')
    if (key === 'client' && value !== undefined && value.replace(/\/+$/, '') === clientName) return true
  }
  return false
}

// A read that fails for one of these reasons fails only the records that needed it (recorded,
// retryable once the cause is fixed); any other failure is retried with the whole batch.
const RECORD_LEVEL_READ_FAILURES = new Set(['salesforce.needs-reauth', 'salesforce.not-connected', 'salesforce.rejected', 'salesforce.limit-exceeded'])

const bump = (counts: Record<string, number>, key: string, by = 1) => void (counts[key] = (counts[key] ?? 0) + by)

export async function applyMerchantChanges(deps: ApplyDeps, settings: Settings, all: ChangeMessage[], options: { signal: AbortSignal }): Promise<ApplyOutcome> {
  const { store, cohort, config } = deps
  const { signal } = options
  const merchantId = settings.merchantId
  const imp = settings.import
  const outcome: ApplyOutcome = { created: 0, updated: 0, unlinked: 0, echoes: 0, skipped: {}, errors: 0, applied: [] }
  const object = imp.object!
  const emailField = imp.emailField!
  const mapping = new Map(imp.fields.map((f) => [f.field, f]))
  const wanted = new Set([emailField, ...mapping.keys()])
  const isOwn = (origin: string) => isOwnOrigin(origin, config.salesforce.clientName)

  const messages: ChangeMessage[] = []
  for (const m of all) {
    if (m.object !== object) bump(outcome.skipped, 'other-object')
    else messages.push(m)
  }
  if (messages.length === 0) return outcome

  const byRecord = new Map<string, ChangeMessage[]>()
  for (const m of messages) {
    const list = byRecord.get(m.recordId)
    if (list) list.push(m)
    else byRecord.set(m.recordId, [m])
  }
  const recordIds = [...byRecord.keys()]
  const [links, states] = await Promise.all([store.findLinksByRecords(merchantId, recordIds), store.getFieldStatesOf(merchantId, recordIds)])
  const linkOf = new Map(links.map((l) => [l.recordId, l]))
  const statesOf = new Map<string, Map<string, FieldState>>()
  for (const s of states) {
    let map = statesOf.get(s.recordId)
    if (!map) statesOf.set(s.recordId, (map = new Map()))
    map.set(s.field, s)
  }

  const errors: BatchError[] = []
  const traces: BatchTrace[] = []
  const fail = (recordId: string, userId: string | null, email: string | null, code: string, message: string) => {
    errors.push({ direction: 'import', recordId, userId, email, code, message, payload: { object, recordId } })
    traces.push({ direction: 'import', recordId, userId, email, outcome: 'error', details: { code, message } })
    outcome.errors++
  }

  // Read again what the messages cannot tell: gap events, and updates of an unlinked record
  // that do not carry its email.
  const toFetch = recordIds.filter((id) => {
    const list = byRecord.get(id)!
    const last = list[list.length - 1]!
    if (last.changeType === 'DELETE' || last.changeType === 'GAP_DELETE') return false
    if (list.some((m) => m.changeType.startsWith('GAP_'))) return true
    return !linkOf.has(id) && !list.some((m) => emailField in m.fields) && !statesOf.get(id)?.has(emailField)
  })
  const unreadable = new Set<string>()
  if (toFetch.length > 0) {
    try {
      const conn = await deps.connections.get(merchantId)
      const receivedAt = Date.now()
      for (const record of await selectByIds(conn, object, [emailField, ...mapping.keys()], toFetch)) {
        byRecord.get(record.Id)?.push(fromRecord(record, { merchantId, orgId: messages[0]!.orgId, object, source: 'fetch', receivedAt }))
      }
    } catch (err) {
      const code = err instanceof AppError ? err.code : 'internal'
      // An outage is retried with the batch; a connection that needs the merchant is recorded.
      if (!RECORD_LEVEL_READ_FAILURES.has(code)) throw err
      for (const id of toFetch) {
        unreadable.add(id)
        fail(id, linkOf.get(id)?.userId ?? null, linkOf.get(id)?.email ?? null, code, `could not read ${object} ${id} from Salesforce: ${(err as Error).message}`)
      }
    }
  }

  const reduced: ReducedRecord[] = []
  for (const id of recordIds) {
    if (unreadable.has(id)) continue
    reduced.push(reduceRecord(id, byRecord.get(id)!, wanted, emailField, statesOf.get(id) ?? new Map(), isOwn))
  }

  await dropEchoes(deps, settings, reduced, linkOf, outcome)

  const fieldStates: BatchFieldState[] = []
  const unlinks: string[] = []
  const targets: Target[] = []
  for (const r of reduced) {
    if (r.deletion) fieldStates.push({ recordId: r.recordId, field: DELETED_FIELD, value: r.deletion.value, changedAt: r.deletion.changedAt, sequence: r.deletion.sequence, direction: 'import' })
    const link = linkOf.get(r.recordId)
    if (r.deleted) {
      unlinks.push(r.recordId)
      if (link) traces.push({ direction: 'import', recordId: r.recordId, userId: link.userId, email: link.email, outcome: 'unlinked', details: { reason: 'deleted in Salesforce' } })
      continue
    }
    if (!r.alive) continue
    const rawEmail = r.email ? r.email.value : (statesOf.get(r.recordId)?.get(emailField)?.value ?? link?.email ?? undefined)
    const checked = checkEmail(rawEmail)
    if (!link && !checked.ok) {
      bump(outcome.skipped, checked.reason)
      traces.push({ direction: 'import', recordId: r.recordId, userId: null, email: typeof rawEmail === 'string' ? rawEmail : null, outcome: 'skipped', details: { reason: checked.reason } })
      continue
    }
    const email = checked.ok ? { email: checked.email, normalized: checked.normalized } : null
    const emailChanged = link !== undefined && email !== null && normalizeEmail(link.email) !== email.normalized
    targets.push({ record: r, email, userId: link?.userId ?? null, link: !link || emailChanged, properties: {}, fields: [] })
  }

  await resolveUsers(deps, merchantId, targets, fail, signal)

  // Values → Cohort property values; one that does not convert is a per-record error.
  const used = new Map<string, 'text' | 'number' | 'boolean' | 'date'>()
  for (const t of targets) {
    for (const [field, pending] of t.record.fields) {
      const map = mapping.get(field)
      if (!map) continue
      const converted = convertValue(pending.value, map.type)
      if (!converted.ok) {
        fail(t.record.recordId, t.userId, t.email?.email ?? null, 'invalid-value', `${field} → ${map.property} (${map.type}): ${converted.reason}`)
        continue
      }
      t.properties[map.property] = converted.value
      t.fields.push(field)
      used.set(map.property, map.type)
    }
  }
  for (const [key, type] of used) {
    try {
      await cohort.ensureProperty(merchantId, { key, name: key, type }, { signal })
    } catch (err) {
      if (!(err instanceof AppError && err.code === 'cohort.property-conflict')) throw err
      for (const t of targets) {
        if (!(key in t.properties)) continue
        delete t.properties[key]
        t.fields = t.fields.filter((f) => mapping.get(f)?.property !== key)
        fail(t.record.recordId, t.userId, t.email?.email ?? null, err.code, err.message)
      }
    }
  }

  const done = await writeToCohort(deps, settings, targets, outcome, fail, signal)
  for (const t of targets) {
    if (t.userId === null && t.email !== null && settings.import.mode === 'existing') {
      traces.push({ direction: 'import', recordId: t.record.recordId, userId: null, email: t.email.email, outcome: 'skipped', details: { reason: 'no-cohort-user' } })
    }
  }
  for (const t of done) {
    if (t.fields.length === 0 && !t.link) continue
    traces.push({ direction: 'import', recordId: t.record.recordId, userId: t.userId, email: t.email?.email ?? null, outcome: t.created ? 'created' : t.fields.length > 0 ? 'updated' : 'linked', details: { changes: t.record.messages.map((m) => m.changeType), properties: t.properties } })
  }

  const newLinks: BatchLink[] = []
  for (const t of done) {
    if (t.userId === null) continue
    if (t.link) newLinks.push({ sobject: object, recordId: t.record.recordId, userId: t.userId, email: t.email?.email ?? null })
    for (const field of [...t.fields, ...(t.record.fields.has(emailField) && !t.fields.includes(emailField) ? [emailField] : [])]) {
      const pending = t.record.fields.get(field)!
      fieldStates.push({ recordId: t.record.recordId, field, value: t.properties[mapping.get(field)?.property ?? ''] ?? pending.value ?? null, changedAt: pending.changedAt, sequence: pending.sequence, direction: 'import' })
    }
    outcome.applied.push(...t.record.messages)
  }

  const result = await store.commitImportBatch({
    merchantId,
    unlinks,
    links: newLinks,
    fieldStates,
    traces,
    errors,
    resolveErrors: done.filter((t) => t.userId !== null).map((t) => ({ direction: 'import' as const, recordId: t.record.recordId })),
    ...(done.length > 0 || unlinks.length > 0 ? { importedAt: new Date() } : {}),
  })
  outcome.unlinked += result.unlinked.length
  // A user linked to one record only: the record it leaves is a duplicate of the same email.
  for (const l of result.links) {
    if (l.displacedRecordId) await store.recordError({ merchantId, direction: 'import', recordId: l.displacedRecordId, userId: l.userId, code: 'duplicate-email', message: `record ${l.recordId} has the same email and was modified more recently; it is the one linked`, payload: { object, recordId: l.displacedRecordId } })
  }
  return outcome
}

/** Fields that are this bridge's own export coming back (contracts §8) are not imported. */
async function dropEchoes(deps: ApplyDeps, settings: Settings, reduced: ReducedRecord[], linkOf: Map<string, { userId: string }>, outcome: ApplyOutcome): Promise<void> {
  const byField = new Map<string, string[]>()
  for (const m of settings.export.mappings) byField.set(m.field, [...(byField.get(m.field) ?? []), m.property])
  const candidates = reduced.filter((r) => linkOf.has(r.recordId) && [...r.fields.values()].some((p) => p.own))
  if (candidates.length === 0 || byField.size === 0) return
  const versions = await deps.store.getExportVersions(settings.merchantId, [...new Set(candidates.map((r) => linkOf.get(r.recordId)!.userId))])
  const exported = new Map(versions.map((v) => [`${v.userId}\u0000${v.property}`, v]))
  for (const r of candidates) {
    const userId = linkOf.get(r.recordId)!.userId
    for (const [field, pending] of r.fields) {
      if (!pending.own) continue
      const echo = (byField.get(field) ?? []).some((property) => {
        const v = exported.get(`${userId}\u0000${property}`)
        return v !== undefined && (v.recordId === null || v.recordId === r.recordId) && sameValue(v.value, pending.value)
      })
      if (echo) {
        r.fields.delete(field)
        outcome.echoes++
      }
    }
  }
}

/** Users for the targets without a link: by email, one record per email (the newest). */
async function resolveUsers(deps: ApplyDeps, merchantId: string, targets: Target[], fail: (recordId: string, userId: string | null, email: string | null, code: string, message: string) => void, signal: AbortSignal): Promise<void> {
  const unlinked = targets.filter((t) => t.userId === null && t.email !== null)
  if (unlinked.length === 0) return
  // Several records with one email: the most recently modified is linked (contracts §8).
  const byEmail = new Map<string, Target>()
  for (const t of unlinked) {
    const other = byEmail.get(t.email!.normalized)
    if (!other) {
      byEmail.set(t.email!.normalized, t)
      continue
    }
    const [winner, loser] = compareOrder(newestOf(t), newestOf(other)) > 0 ? [t, other] : [other, t]
    byEmail.set(t.email!.normalized, winner)
    loser.email = null
    fail(loser.record.recordId, null, loser.record.email?.value as string ?? null, 'duplicate-email', `record ${winner.record.recordId} has the same email and was modified more recently; it is the one linked`)
  }
  const emails = [...byEmail.keys()]
  const linked = await deps.store.findLinksByEmails(merchantId, emails)
  const others = linked.filter((l) => byEmail.get(normalizeEmail(l.email) ?? '')?.record.recordId !== l.recordId)
  if (others.length > 0) {
    const newestStored = await newestStoredOrders(deps.store, merchantId, others.map((l) => l.recordId))
    for (const l of others) {
      const t = byEmail.get(normalizeEmail(l.email) ?? '')
      if (!t) continue
      const theirs = newestStored.get(l.recordId) ?? { changedAt: l.updatedAt, sequence: 0 }
      if (compareOrder(newestOf(t), theirs) > 0) {
        // This record takes the link; the store reports the other one as displaced.
        t.userId = l.userId
      } else {
        byEmail.delete(t.email!.normalized)
        fail(t.record.recordId, l.userId, t.email!.email, 'duplicate-email', `record ${l.recordId} has the same email and was modified more recently; it is the one linked`)
        t.email = null
      }
    }
  }
  const pending = [...byEmail.values()].filter((t) => t.userId === null)
  if (pending.length === 0) return
  const found = await deps.users.find(merchantId, pending.map((t) => t.email!.normalized), { signal })
  for (const t of pending) t.userId = found.get(t.email!.normalized) ?? null
}

const newestOf = (t: Target): Order => t.record.newest ?? { changedAt: new Date(0), sequence: 0 }

/** Per record, the order of the newest change applied to it (its newest field state). */
async function newestStoredOrders(store: Store, merchantId: string, recordIds: string[]): Promise<Map<string, Order>> {
  const newest = new Map<string, Order>()
  for (const s of await store.getFieldStatesOf(merchantId, recordIds)) {
    const current = newest.get(s.recordId)
    if (!current || compareOrder(s, current) > 0) newest.set(s.recordId, s)
  }
  return newest
}

/** Cohort batch calls in flight at once for one share (each of up to BATCH_CHUNK operations). */
const COHORT_CALLS_IN_FLIGHT = 4

/**
 * The operations in calls of BATCH_CHUNK, up to COHORT_CALLS_IN_FLIGHT at a time (a share of
 * thousands of creates then waits for a quarter of the round trips); results in order. The
 * operations are of distinct users, so their order between calls does not matter. Every call
 * settles before a failure is thrown: a redelivered batch must not overtake a call of this one.
 */
async function batchConcurrently(cohort: CohortClient, merchantId: string, operations: BatchOperation[], signal: AbortSignal): Promise<BatchResult[]> {
  if (operations.length <= BATCH_CHUNK) return cohort.batchUsers(merchantId, operations, { signal })
  // No new call once one failed: the batch is retried as a whole.
  return (await mapConcurrently(chunks(operations, BATCH_CHUNK), COHORT_CALLS_IN_FLIGHT, (slice) => cohort.batchUsers(merchantId, slice, { signal }))).flat()
}

/**
 * One Cohort batch for every target: updates of known users, creates in mode `all`. Creates
 * refused with `user.already-exists` (a lost answer retried, or a user made meanwhile) become
 * updates of that user in a second batch. Returns the targets Cohort acknowledged.
 */
async function writeToCohort(deps: ApplyDeps, settings: Settings, targets: Target[], outcome: ApplyOutcome, fail: (recordId: string, userId: string | null, email: string | null, code: string, message: string) => void, signal: AbortSignal): Promise<Target[]> {
  const merchantId = settings.merchantId
  const done: Target[] = []
  const calls: Array<{ target: Target; op: BatchOperation }> = []
  for (const t of targets) {
    if (t.email === null && t.userId === null) continue
    const hasValues = Object.keys(t.properties).length > 0
    if (t.userId !== null) {
      if (hasValues) calls.push({ target: t, op: { op: 'update', userId: t.userId, properties: t.properties } })
      else done.push(t)
    } else if (settings.import.mode === 'all') {
      calls.push({ target: t, op: { op: 'create', email: t.email!.email, properties: t.properties } })
    } else {
      bump(outcome.skipped, 'no-cohort-user')
    }
  }
  if (calls.length === 0) return done
  const retryAsUpdate: Target[] = []
  const results = await batchConcurrently(deps.cohort, merchantId, calls.map((c) => c.op), signal)
  results.forEach((result, i) => {
    const { target, op } = calls[i]!
    if (result.ok) {
      target.userId = result.user.id
      if (op.op === 'create') {
        outcome.created++
        target.created = true
        deps.users.remember(merchantId, target.email!.normalized, result.user.id)
      } else {
        outcome.updated++
      }
      done.push(target)
    } else if (op.op === 'create' && result.code === 'user.already-exists') {
      retryAsUpdate.push(target)
    } else {
      if (result.code === 'user.not-found' && target.email) deps.users.forget(merchantId, target.email.normalized)
      fail(target.record.recordId, target.userId, target.email?.email ?? null, result.code, result.message)
    }
  })
  if (retryAsUpdate.length > 0) {
    const found = await deps.users.find(merchantId, retryAsUpdate.map((t) => t.email!.normalized), { signal })
    for (const t of retryAsUpdate) if (!found.has(t.email!.normalized)) fail(t.record.recordId, null, t.email!.email, 'user.already-exists', 'Cohort refused the create as existing, and no user has that email')
    // The user may have been made for another record with that email meanwhile (another
    // partition): the duplicate-email rule decides between the two records here too.
    const candidates = retryAsUpdate.filter((t) => found.has(t.email!.normalized))
    const linkedTo = new Map((await deps.store.findLinksByUsers(merchantId, candidates.map((t) => found.get(t.email!.normalized)!))).map((l) => [l.userId, l]))
    const rivals = [...linkedTo.values()].filter((l) => !candidates.some((t) => t.record.recordId === l.recordId))
    const rivalOrders = rivals.length === 0 ? new Map<string, Order>() : await newestStoredOrders(deps.store, merchantId, rivals.map((l) => l.recordId))
    const again = candidates.filter((t) => {
      const rival = linkedTo.get(found.get(t.email!.normalized)!)
      if (!rival || rival.recordId === t.record.recordId) return true
      if (compareOrder(newestOf(t), rivalOrders.get(rival.recordId) ?? { changedAt: rival.updatedAt, sequence: 0 }) > 0) return true
      fail(t.record.recordId, rival.userId, t.email!.email, 'duplicate-email', `record ${rival.recordId} has the same email and was modified more recently; it is the one linked`)
      return false
    })
    const second = again.length === 0 ? [] : await batchConcurrently(deps.cohort, merchantId, again.map((t) => ({ op: 'update' as const, userId: found.get(t.email!.normalized)!, properties: t.properties })), signal)
    second.forEach((result, i) => {
      const t = again[i]!
      if (result.ok) {
        t.userId = result.user.id
        outcome.updated++
        done.push(t)
      } else {
        fail(t.record.recordId, found.get(t.email!.normalized)!, t.email!.email, result.code, result.message)
      }
    })
  }
  return done
}
