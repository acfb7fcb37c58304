/**
 * One record's changes of a batch, reduced to what is left to apply: the newest value per
 * field, whether the record ends deleted, whether it must be read again (a gap event). Order
 * per record and field is (commitTimestamp, commitNumber, sequenceNumber) (contracts §8);
 * the stored field states of earlier batches take part, so the same change twice, or an older
 * one after a newer one, leaves nothing to apply.
 *
 * Deletion is kept as the pseudo field `$deleted` (true on DELETE, false on CREATE/UNDELETE),
 * so a snapshot read before a delete but handled after it cannot bring the record back.
 */
import { orderOf, type ChangeMessage } from '../changes/index.ts'
import type { FieldState } from '../store/index.ts'

export const DELETED_FIELD = '$deleted'

export interface Order {
  changedAt: Date
  sequence: number
}

export interface PendingValue extends Order {
  value: unknown
  /** From a full load: applies at an equal order too (a remapped property gets the value again). */
  reapply: boolean
  /** The change came through this bridge's own API client (a possible echo). */
  own: boolean
}

export interface ReducedRecord {
  recordId: string
  /** Ends deleted in Salesforce: unlink. */
  deleted: boolean
  /** Some change left the record alive (created, updated, undeleted, read). */
  alive: boolean
  /** A gap event: the values must be read from Salesforce. */
  needsFetch: boolean
  /** Newest value per field still to apply (mapped fields and the email field only). */
  fields: Map<string, PendingValue>
  /** The newest email value seen in the messages, applied or not. */
  email: { value: unknown } | undefined
  /** `$deleted` to store, when it changed. */
  deletion: (Order & { value: boolean }) | undefined
  /** Newest order of an alive change (duplicate-email rule). */
  newest: Order | undefined
  messages: ChangeMessage[]
}

export const compareOrder = (a: Order, b: Order) => a.changedAt.getTime() - b.changedAt.getTime() || a.sequence - b.sequence

const GAPS = new Set(['GAP_CREATE', 'GAP_UPDATE', 'GAP_UNDELETE'])

/**
 * Reduce one record's messages (in offset order). `wanted` are the fields that matter (mapped
 * plus the email field); `stored` the record's field states; `isOwn` tells the bridge's own
 * writes by `changeOrigin`.
 */
export function reduceRecord(recordId: string, messages: ChangeMessage[], wanted: Set<string>, emailField: string, stored: Map<string, FieldState>, isOwn: (origin: string) => boolean): ReducedRecord {
  const storedDeletion = stored.get(DELETED_FIELD)
  let deletion: (Order & { value: boolean }) | undefined = storedDeletion ? { changedAt: storedDeletion.changedAt, sequence: storedDeletion.sequence, value: storedDeletion.value === true } : undefined
  let changedDeletion = false
  let deleted = false
  let alive = false
  let needsFetch = false
  let newest: Order | undefined
  let email: { value: unknown } | undefined
  const fields = new Map<string, PendingValue>()

  const setDeletion = (order: Order, value: boolean) => {
    if (deletion && compareOrder(order, deletion) <= 0) return
    // "Not deleted" only needs writing over a known delete (most records never had one).
    if (!value && deletion?.value !== true) return
    deletion = { ...order, value }
    changedDeletion = true
  }

  for (const m of messages) {
    const order = orderOf(m)
    switch (m.changeType) {
      case 'DELETE':
      case 'GAP_DELETE':
        // A delete older than a known undelete (a redelivery) changes nothing.
        if (deletion && compareOrder(order, deletion) <= 0 && deletion.value === false) continue
        setDeletion(order, true)
        deleted = true
        alive = false
        needsFetch = false
        fields.clear()
        continue
      case 'SNAPSHOT':
        // A read older than a known delete is stale: the record is gone since.
        if (deletion?.value === true && compareOrder(order, deletion) <= 0) continue
        break
      case 'CREATE':
      case 'UNDELETE':
      case 'GAP_CREATE':
      case 'GAP_UNDELETE':
        setDeletion(order, false)
        break
      case 'GAP_OVERFLOW':
        continue
      default:
        break
    }
    deleted = false
    alive = true
    if (GAPS.has(m.changeType)) needsFetch = true
    if (!newest || compareOrder(order, newest) > 0) newest = order
    const own = isOwn(m.changeOrigin)
    for (const [field, value] of Object.entries(m.fields)) {
      if (field === emailField) email = { value }
      if (!wanted.has(field)) continue
      const pending = fields.get(field)
      if (pending && compareOrder(order, pending) < 0) continue
      fields.set(field, { ...order, value, reapply: m.source === 'load', own })
    }
  }

  // What earlier batches already applied is not applied again.
  for (const [field, pending] of fields) {
    const state = stored.get(field)
    if (!state) continue
    // A load's snapshot carries the record as of its SystemModstamp (sequence 0): it applies
    // again over a change of that same time (a field mapped to another property gets its
    // value), never over a newer one.
    const stale = pending.reapply ? pending.changedAt.getTime() < state.changedAt.getTime() : compareOrder(pending, state) <= 0
    if (stale) fields.delete(field)
  }

  return { recordId, deleted, alive, needsFetch, fields, email, deletion: changedDeletion ? deletion : undefined, newest, messages }
}
