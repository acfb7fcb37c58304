/**
 * A stream's resyncs: the repair of what the stream could not deliver (an overflow or wildcard
 * event: everything; a replay id outside retention or a silent stream: a window before the
 * last event seen). The request is durable: the generic checkpoint `cdc-resync:{merchantId}`,
 * written under the stream's lease before the stream moves on (before the overflow event's
 * replay id is saved, before resubscribing from new events), so a crash before or during the
 * resync runs it after the restart. Requests merge: the widest window wins (null = all).
 *
 * One resync at a time, only once the stream position is established (subscribed), so every
 * change after what the resync reads arrives as an event too. A failed resync is retried with
 * backoff (its attempts are stored too); a completed one clears the request unless a newer
 * one came meanwhile, which then runs.
 */
import { randomUUID } from 'node:crypto'
import type { Logger } from '../logger.ts'
import { backoffDelay, retry } from '../retry.ts'
import type { LeaseFence, Store } from '../store/index.ts'
import { createWaker } from './mailbox.ts'
import type { CdcMetrics } from './metrics.ts'

/** The stored request. */
export interface ResyncRequest {
  /** Changes on every merge, so a resumed run continues only the request it was reading for. */
  id: string
  /** Window start (ISO): records with `SystemModstamp >= from`; null: every record. */
  from: string | null
  reasons: string[]
  requestedAt: string
  /** Failed attempts so far. */
  attempts: number
}

/** What one resync reads. */
export interface ResyncOrder {
  id: string
  from: Date | null
  reason: string
}

export interface ResyncerDeps {
  store: Store
  lease: LeaseFence
  merchantId: string
  log: Logger
  metrics: CdcMetrics
  /** Read and produce the records; resolves once they are on Kafka, rejects when it failed. */
  run(order: ResyncOrder, signal: AbortSignal): Promise<void>
  /** A resync became pending (true) or every one is done (false): health `resyncing`. */
  onActive(active: boolean, reason: string): void
  /** The lease is gone. */
  onFenced(): void
  /** Backoff of failed resyncs. Defaults 5 s to 5 min. */
  retryMinMs?: number
  retryMaxMs?: number
}

export interface Resyncer {
  /** Read the stored request (a restart resumes it). */
  load(): Promise<void>
  /** Ask for a resync (merged with a pending one) and store it; resolves once stored. */
  request(reason: string, from: Date | null): Promise<void>
  /** Whether the stream position is established now (subscribed). */
  setReady(ready: boolean): void
  /** A resync is asked for and not done yet. */
  active(): boolean
  /** When the last completed resync started reading (ms), or null: it covered everything changed before. */
  coveredUntil(): number | null
  /** Run pending resyncs until `signal` aborts. */
  run(signal: AbortSignal): Promise<void>
}

export const resyncCheckpointOf = (merchantId: string) => `cdc-resync:${merchantId}`

const isFenced = (err: unknown) => (err as { code?: string } | null)?.code === 'store.fenced'

/** The wider of two windows: the earlier start, null (everything) over any. */
function widest(a: string | null, b: string | null): string | null {
  if (a === null || b === null) return null
  return Date.parse(a) <= Date.parse(b) ? a : b
}

function parseRequest(value: unknown): ResyncRequest | null {
  const r = value as Partial<ResyncRequest> | null
  if (!r || typeof r.id !== 'string') return null
  return {
    id: r.id,
    from: typeof r.from === 'string' && !Number.isNaN(Date.parse(r.from)) ? r.from : null,
    reasons: Array.isArray(r.reasons) ? r.reasons.filter((x): x is string => typeof x === 'string') : [],
    requestedAt: typeof r.requestedAt === 'string' ? r.requestedAt : new Date().toISOString(),
    attempts: typeof r.attempts === 'number' ? r.attempts : 0,
  }
}

export function createResyncer(deps: ResyncerDeps): Resyncer {
  const { store, lease, log, metrics } = deps
  const name = resyncCheckpointOf(deps.merchantId)
  const waker = createWaker()
  let pending: ResyncRequest | null = null
  let ready = false
  let nextAttemptAt = 0
  let covered: number | null = null
  let writes: Promise<void> = Promise.resolve()

  /** Store the current request (or its absence). Writes are chained, each writes the latest state. */
  function persist(): Promise<void> {
    const write = writes.then(() => retry(() => store.saveCheckpoint(name, pending, lease), { retries: 3, minDelayMs: 200, maxDelayMs: 2000, shouldRetry: (err) => !isFenced(err) }))
    writes = write.catch(() => undefined)
    return write.catch((err: unknown) => {
      if (isFenced(err)) {
        deps.onFenced()
        return
      }
      throw err
    })
  }

  const reasonOf = (r: ResyncRequest) => r.reasons.join(', ')

  return {
    async load() {
      pending = parseRequest(await store.getCheckpoint(name))
      if (pending) {
        log.warn({ from: pending.from, reasons: pending.reasons, attempts: pending.attempts }, 'a resync asked for before the restart is still to do: it runs once subscribed')
        nextAttemptAt = 0
        deps.onActive(true, reasonOf(pending))
      }
    },

    async request(reason, from) {
      const fromIso = from === null ? null : from.toISOString()
      const was = pending
      pending = {
        id: randomUUID(),
        from: was ? widest(was.from, fromIso) : fromIso,
        reasons: [...new Set([...(was?.reasons ?? []), reason])],
        requestedAt: was?.requestedAt ?? new Date().toISOString(),
        attempts: 0,
      }
      metrics.resync(reason)
      log.warn({ reason, from: pending.from, merged: was !== null }, pending.from === null ? 'resync of the whole object asked for' : 'resync of a window asked for')
      nextAttemptAt = 0
      if (!was) deps.onActive(true, reasonOf(pending))
      waker.wake()
      await persist()
    },

    setReady(value) {
      ready = value
      if (ready) waker.wake()
    },

    active: () => pending !== null,
    coveredUntil: () => covered,

    async run(signal) {
      while (!signal.aborted) {
        const wait = pending && ready ? nextAttemptAt - Date.now() : Number.POSITIVE_INFINITY
        if (wait > 0) {
          await waker.wait(Math.min(wait, 60_000), signal)
          continue
        }
        const order = pending!
        const startedAt = Date.now()
        try {
          log.info({ from: order.from, reasons: order.reasons, attempt: order.attempts + 1 }, 'resync started')
          await deps.run({ id: order.id, from: order.from === null ? null : new Date(order.from), reason: reasonOf(order) }, signal)
          metrics.resyncEnded('completed')
          covered = Math.max(covered ?? 0, startedAt)
          log.info({ from: order.from, reasons: order.reasons, ms: Date.now() - startedAt }, 'resync completed')
          if (pending === order) {
            pending = null
            await persist().catch((err: unknown) => log.warn({ err }, 'clearing the completed resync request failed; it runs again after a restart'))
            if (pending === null) deps.onActive(false, reasonOf(order))
          }
        } catch (err) {
          if (signal.aborted) return
          metrics.resyncEnded('failed')
          const current: ResyncRequest = pending === order ? { ...order, attempts: order.attempts + 1 } : pending!
          pending = current
          const minDelayMs = deps.retryMinMs ?? 5000
          nextAttemptAt = Date.now() + Math.max(minDelayMs / 2, backoffDelay(Math.max(1, current.attempts), { minDelayMs, maxDelayMs: deps.retryMaxMs ?? 300_000 }))
          log.warn({ err, attempts: current.attempts, retryInMs: nextAttemptAt - Date.now() }, 'resync failed; retrying with backoff')
          await persist().catch((e: unknown) => log.warn({ err: e }, 'storing the resync attempts failed'))
        }
      }
    },
  }
}
