/** Batch preparation both backends share: merchant checks and in-batch coalescing. */
import { AppError } from '../../errors.ts'
import type { ExportBatch, FieldState, ImportBatch, NewExportVersion } from '../types/index.ts'

/** Give every entry the batch's merchant; an entry naming another merchant is a bug. */
export function forMerchant<T extends { merchantId?: string }>(merchantId: string, items: T[] | undefined, what: string): Array<T & { merchantId: string }> {
  if (!items) return []
  return items.map((item) => {
    if (item.merchantId !== undefined && item.merchantId !== merchantId) {
      throw new AppError('internal', `A ${what} of merchant ${item.merchantId} in a batch of merchant ${merchantId}`)
    }
    return { ...item, merchantId }
  })
}

/** The parts both kinds of batch have, each checked to belong to the batch's merchant. */
export function prepareBatch(batch: ImportBatch | ExportBatch) {
  const { merchantId } = batch
  return {
    links: forMerchant(merchantId, batch.links, 'link'),
    fieldStates: forMerchant(merchantId, batch.fieldStates, 'field state'),
    traces: forMerchant(merchantId, batch.traces, 'trace'),
    errors: forMerchant(merchantId, batch.errors, 'error'),
    resolveErrors: batch.resolveErrors ?? [],
  }
}

/** Consecutive runs of items with the same merchant, in order: `[merchantId, items]`. */
export function runsByMerchant<T extends { merchantId: string }>(items: T[]): Array<[string, T[]]> {
  const runs: Array<[string, T[]]> = []
  for (const item of items) {
    const last = runs.at(-1)
    if (last && last[0] === item.merchantId) last[1].push(item)
    else runs.push([item.merchantId, [item]])
  }
  return runs
}

/** True when a is newer than b by (changedAt, sequence). */
const newer = (a: FieldState, b: FieldState): boolean =>
  a.changedAt.getTime() > b.changedAt.getTime() || (a.changedAt.getTime() === b.changedAt.getTime() && a.sequence > b.sequence)

/**
 * One state per (merchant, record, field): the newest, or the first of equals. Writing
 * these gives what writing all of them in order would, in one statement per batch.
 */
export function newestFieldStates(states: FieldState[]): FieldState[] {
  const byKey = new Map<string, FieldState>()
  for (const s of states) {
    const key = `${s.merchantId}\u0000${s.recordId}\u0000${s.field}`
    const seen = byKey.get(key)
    if (!seen || newer(s, seen)) byKey.set(key, s)
  }
  return [...byKey.values()]
}

/** One export version per (user, property): the highest, or the first of equals. */
export function highestExportVersions<T extends NewExportVersion>(versions: T[]): T[] {
  const byKey = new Map<string, T>()
  for (const v of versions) {
    const key = JSON.stringify([v.userId, v.property])
    const seen = byKey.get(key)
    if (!seen || v.version > seen.version) byKey.set(key, v)
  }
  return [...byKey.values()]
}

/** Merge parked properties: per property the higher version wins, an equal one keeps the old. */
export function mergeParked(
  old: Record<string, { value: unknown; version: number }>,
  incoming: Record<string, { value: unknown; version: number }>,
): Record<string, { value: unknown; version: number }> {
  const merged = { ...old }
  for (const [property, change] of Object.entries(incoming)) {
    const seen = merged[property]
    if (!seen || change.version > seen.version) merged[property] = { value: change.value ?? null, version: change.version }
  }
  return merged
}

/** One change per key, repeats merged in order; keys keep their first-seen order. */
export function coalesceParkChanges(changes: Array<{ key: string; properties: Record<string, { value: unknown; version: number }> }>): Array<{ key: string; properties: Record<string, { value: unknown; version: number }> }> {
  const byKey = new Map<string, Record<string, { value: unknown; version: number }>>()
  for (const change of changes) byKey.set(change.key, mergeParked(byKey.get(change.key) ?? {}, change.properties))
  return [...byKey].map(([key, properties]) => ({ key, properties }))
}
