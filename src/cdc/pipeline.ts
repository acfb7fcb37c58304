/**
 * One stream's way from delivered events to Kafka and the checkpoint. Events are queued in
 * delivery order; one flush loop produces them in batches, one produce at a time. Once Kafka
 * acknowledged a batch (and the resync requests of its overflow and wildcard events are
 * stored), the replay id of its last event becomes the newest acknowledged one, which a
 * background saver writes (coalesce.ts: one write in flight, at most one per
 * `saveIntervalMs`, always the newest acknowledged id), so the next produce does not wait for a
 * store transaction. Every event of a batch is whole in it. A failed produce is retried with
 * backoff, in order, never skipped, and the checkpoint stays where it was meanwhile. The
 * pipeline is the only writer of the checkpoint, so it also takes the `cdc-replay` requests
 * (which move the checkpoint back): the saver is flushed first, so no older save lands after.
 * `last_event_at` is written the same way, at most once per `noteIntervalMs`.
 *
 * A crash loses at most the saves not yet made: the checkpoint is behind what Kafka holds, and
 * CometD re-sends from it (duplicates, which the importer's reduce makes harmless); it is never
 * ahead of what Kafka acknowledged.
 *
 * Duplicates: after a rebuild or a rehandshake the server replays from the checkpoint, which
 * may be behind what is already queued; an event whose replay id is not above the newest one
 * queued is dropped. faye has no backpressure: past `maxQueued` messages the stream drops its
 * client and, once the queue is drained, subscribes again from the checkpoint.
 */
import { setImmediate as nextTurn } from 'node:timers/promises'
import type { OutgoingMessage } from '../kafka/index.ts'
import type { Logger } from '../logger.ts'
import { retry } from '../retry.ts'
import { createCoalescedWriter } from '../coalesce.ts'
import { createWaker } from './mailbox.ts'
import type { CdcMetrics } from './metrics.ts'

/** One delivered event: its messages (none for invalid and resync events) and position. */
export interface QueuedEvent {
  replayId: number | null
  messages: OutgoingMessage[]
  receivedAt: number
  /** Set for overflow and wildcard events: the reason of the resync they start. */
  resync?: string
}

export interface PipelineDeps {
  produce(messages: OutgoingMessage[]): Promise<void>
  /** Fenced: throws `store.fenced` once the lease changed hands. */
  saveCheckpoint(replayId: number, force: boolean): Promise<void>
  noteEvent(at: Date): Promise<void>
  /** Take a pending cdc-replay request (force-saving its id under the lease); its replay id or null. */
  takeReplayRequest(): Promise<number | null>
  /** A resync event reached its turn: everything before it is on Kafka; its replay id is saved once this resolves (the request is stored). */
  onResync(reason: string): Promise<void>
  /** The queue went past its bound: stop delivering (drop the client). */
  onOverflow(): void
  /** After an overflow, the queue is empty again: subscribe again from the checkpoint. */
  onDrained(): void
  /** A cdc-replay request was taken: the queue is empty, subscribe again from `replayId`. */
  onReplayRequest(replayId: number): void
  /** The lease is gone: nothing more may be saved. */
  onFenced(err: unknown): void
  logger: Logger
  metrics: CdcMetrics
}

export interface PipelineOptions {
  /** The stored checkpoint, or null when the channel has none. */
  checkpoint: number | null
  /** Messages queued at most before the client is dropped. Default 20 000. */
  maxQueued?: number
  /** Most messages per produce call. Default 1000. */
  batchMessages?: number
  /** How often a cdc-replay request is looked for. Default 3000 ms. */
  replayPollMs?: number
  /** Backoff of produce retries. Defaults 200 ms to 30 s. */
  retryMinMs?: number
  retryMaxMs?: number
  /** Least time between two checkpoint writes (the newest acknowledged id is written). Default 100 ms. */
  saveIntervalMs?: number
  /** Least time between two `last_event_at` writes. Default 1000 ms. */
  noteIntervalMs?: number
}

export type PushOutcome = 'queued' | 'duplicate' | 'dropped'

export interface Pipeline {
  push(event: QueuedEvent): PushOutcome
  /** Messages queued and not yet on Kafka. */
  queued(): number
  /** The durable checkpoint as last saved (what a subscribe resumes from), or null. */
  checkpoint(): number | null
  /** When the newest event on Kafka was received (ms), or null: ahead of the stored `last_event_at` by up to `noteIntervalMs`. */
  lastEventAt(): number | null
  /** The stored position is no good (outside retention): resume from new events, and let the next save move backwards. */
  forgetPosition(): void
  /** Run the flush loop until `signal` aborts; an in-flight produce finishes first, then the last checkpoint and `last_event_at` are saved. */
  run(signal: AbortSignal): Promise<void>
}

export function createPipeline(deps: PipelineDeps, options: PipelineOptions): Pipeline {
  const { logger, metrics } = deps
  const maxQueued = options.maxQueued ?? 20_000
  const batchMessages = options.batchMessages ?? 1000
  const replayPollMs = options.replayPollMs ?? 3000
  const queue: QueuedEvent[] = []
  const waker = createWaker()
  let queuedMessages = 0
  let checkpoint = options.checkpoint
  // Newest replay id queued or saved: anything at or below it was seen already.
  let watermark = options.checkpoint
  let forceNext = false
  let overflowed = false
  let fenced = false
  // A save failed and its id waits for another attempt.
  let saveFailed = false
  // Bumped by forgetPosition and a taken cdc-replay: a save of an older position must not count.
  let epoch = 0
  let lastEventAt: number | null = null

  function clear(): void {
    queue.length = 0
    queuedMessages = 0
    overflowed = false
  }

  function take(): QueuedEvent[] {
    let n = 0
    let count = 0
    // Whole events only, at least one.
    while (n < queue.length && (n === 0 || count + queue[n]!.messages.length <= batchMessages)) count += queue[n++]!.messages.length
    queuedMessages -= count
    return queue.splice(0, n)
  }

  /** Save one acknowledged replay id; true when done with it (saved, fenced, or of an older position). */
  async function save({ replayId, at }: { replayId: number; at: number }): Promise<boolean> {
    if (fenced || at !== epoch) return true
    const force = forceNext
    try {
      await retry(() => deps.saveCheckpoint(replayId, force), { retries: 3, minDelayMs: 200, maxDelayMs: 2000 })
      if (at === epoch) {
        checkpoint = replayId
        if (force) forceNext = false
      }
      saveFailed = false
      return true
    } catch (err) {
      if ((err as { code?: string }).code === 'store.fenced') {
        fenced = true
        deps.onFenced(err)
        return true
      }
      // The messages are on Kafka; a later save covers them (until then a restart re-sends them).
      logger.warn({ err, replayId }, 'saving the replay id failed; the next batch tries again')
      saveFailed = true
      return false
    }
  }
  const saver = createCoalescedWriter(save, { intervalMs: options.saveIntervalMs ?? 100 })
  // Only when a stall or a lost position is looked into is it read, so a second's lag is fine (lastEventAt() has the newest).
  const noter = createCoalescedWriter(async (at: number) => {
    await deps.noteEvent(new Date(at)).catch((err: unknown) => logger.warn({ err }, 'noting the last CDC event failed'))
    return true
  }, { intervalMs: options.noteIntervalMs ?? 1000 })

  /** Produce one batch (retrying until acknowledged), then hand its last replay id to the saver. */
  async function deliver(batch: QueuedEvent[], signal: AbortSignal): Promise<boolean> {
    const messages = batch.flatMap((e) => e.messages)
    if (messages.length > 0) {
      try {
        await retry(() => deps.produce(messages), {
          retries: Number.POSITIVE_INFINITY,
          shouldRetry: () => true,
          minDelayMs: options.retryMinMs ?? 200,
          maxDelayMs: options.retryMaxMs ?? 30_000,
          signal,
          onRetry: ({ attempt, delayMs, error }) => logger.warn({ err: error, attempt, delayMs, messages: messages.length }, 'producing CDC changes failed; retrying, the checkpoint stays'),
        })
      } catch {
        // Only an abort ends the retries: the batch was not acknowledged, the checkpoint stays.
        return false
      }
    }
    metrics.event('produced', batch.filter((e) => e.messages.length > 0).length)
    // The resync an overflow or wildcard event asks for is stored before the checkpoint passes
    // it: its id reaches the saver only after this (and the saver never saves an id not offered).
    for (const event of batch) {
      if (event.resync === undefined) continue
      const reason = event.resync
      try {
        await retry(() => deps.onResync(reason), { retries: Number.POSITIVE_INFINITY, shouldRetry: () => true, minDelayMs: options.retryMinMs ?? 200, maxDelayMs: options.retryMaxMs ?? 30_000, signal, onRetry: ({ attempt, error }) => logger.warn({ err: error, attempt, reason }, 'storing a resync request failed; retrying, the checkpoint stays') })
      } catch {
        return false
      }
    }
    const last = batch.findLast((e) => e.replayId !== null)?.replayId
    if (last !== undefined && last !== null && !fenced) saver.offer({ replayId: last, at: epoch })
    let receivedAt = lastEventAt ?? 0
    for (const e of batch) if (e.receivedAt > receivedAt) receivedAt = e.receivedAt
    lastEventAt = receivedAt
    noter.offer(receivedAt)
    return true
  }

  async function pollReplay(): Promise<boolean | 'later'> {
    let replayId: number | null
    // The take force-saves the requested id: no save of the old position may land after it, so
    // none is in flight (else the next turn of the loop looks again) and none starts meanwhile.
    if (saver.writing()) return 'later'
    const held = saver.pending()
    saver.discard()
    try {
      replayId = await deps.takeReplayRequest()
    } catch (err) {
      if (held !== undefined) saver.offer(held)
      if ((err as { code?: string }).code === 'store.fenced') deps.onFenced(err)
      else logger.warn({ err }, 'reading the cdc-replay requests failed')
      return false
    }
    if (replayId === null) {
      if (held !== undefined) saver.offer(held)
      return false
    }
    // The store saved it as the checkpoint already (same transaction as the take).
    clear()
    epoch++
    saver.discard()
    checkpoint = replayId
    watermark = replayId
    forceNext = false
    deps.onReplayRequest(replayId)
    return true
  }

  return {
    push(event) {
      if (event.replayId !== null && watermark !== null && event.replayId <= watermark) {
        metrics.event('duplicate')
        return 'duplicate'
      }
      if (overflowed || (queue.length > 0 && queuedMessages + event.messages.length > maxQueued)) {
        if (!overflowed) {
          overflowed = true
          logger.warn({ queued: queuedMessages, maxQueued }, 'CDC queue full: dropping the client until Kafka catches up')
          deps.onOverflow()
        }
        metrics.event('dropped')
        return 'dropped'
      }
      queue.push(event)
      queuedMessages += event.messages.length
      if (event.replayId !== null) watermark = event.replayId
      waker.wake()
      return 'queued'
    },
    queued: () => queue.length,
    checkpoint: () => checkpoint,
    lastEventAt: () => lastEventAt,
    forgetPosition() {
      checkpoint = null
      watermark = null
      forceNext = true
      // What was acknowledged of the old position is not worth saving: the next save (of the new one) is forced.
      epoch++
      saver.discard()
    },
    async run(signal) {
      try {
        let nextPoll = 0
        while (!signal.aborted) {
          if (Date.now() >= nextPoll) {
            nextPoll = Date.now() + replayPollMs
            const polled = await pollReplay()
            if (polled === true) continue
            // A save in flight: look again soon (its store write takes milliseconds).
            if (polled === 'later') nextPoll = Date.now() + Math.min(replayPollMs, 50)
          }
          if (queue.length === 0) {
            // A save that failed is tried again once idle (as well as by the next batch).
            if (saveFailed) await saver.flush()
            if (overflowed) {
              overflowed = false
              // The resubscribe starts from the checkpoint: the newest one, so little comes twice.
              await saver.flush()
              deps.onDrained()
            }
            await waker.wait(nextPoll - Date.now(), signal)
            continue
          }
          // Events of one connect response arrive in one turn: take the whole burst.
          await nextTurn()
          if (!(await deliver(take(), signal))) return
        }
      } finally {
        await Promise.all([saver.flush(), noter.flush()])
      }
    },
  }
}
