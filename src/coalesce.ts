/**
 * A background writer of the newest value offered: one write in flight, at most one write
 * started per `intervalMs`, and a write always takes the newest value offered by the time it
 * starts (older ones are never written). It takes cursors off the hot path: a CDC stream's
 * checkpoint and `last_event_at` (src/cdc/pipeline.ts: one store write per interval, not one
 * per produce) and a consumer's offset commits (src/kafka/consumer.ts: one commit per interval,
 * not a broker round trip after every batch).
 *
 * `write` resolves true when the value is done with (written, or not to be written: fenced,
 * stale), false to keep it for another attempt: the next `offer` or `flush` tries again with
 * whatever is newest then. It must not reject.
 */
export interface CoalescedWriter<T> {
  /** The newest value: written in the background, after the interval since the last write started. */
  offer(value: T): void
  /** The value offered and not yet written (nor being written), if any. */
  pending(): T | undefined
  /** A write is in flight. */
  writing(): boolean
  /** Forget the value not yet written (one in flight still finishes). */
  discard(): void
  /** Write what is pending now, without waiting out the interval; resolves once that write (and any in flight) settled. */
  flush(): Promise<void>
}

export function createCoalescedWriter<T>(write: (value: T) => Promise<boolean>, options: { intervalMs: number }): CoalescedWriter<T> {
  let pending: T | undefined
  let loop: Promise<void> | null = null
  let lastStart = Number.NEGATIVE_INFINITY
  let urgent = 0
  let hurry: (() => void) | null = null
  let inFlight = false

  async function drain(): Promise<void> {
    while (pending !== undefined) {
      const wait = lastStart + options.intervalMs - Date.now()
      if (wait > 0 && urgent === 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, wait)
          hurry = () => {
            clearTimeout(timer)
            resolve()
          }
        })
        hurry = null
        continue // discarded or made urgent meanwhile: look again
      }
      const value = pending
      pending = undefined
      lastStart = Date.now()
      inFlight = true
      const done = await write(value)
      inFlight = false
      if (!done) {
        // Kept unless a newer value came meanwhile; the next offer or flush tries again (no spinning here).
        pending ??= value
        return
      }
    }
  }

  function start(): void {
    loop ??= drain().finally(() => {
      loop = null
    })
  }

  return {
    offer(value) {
      pending = value
      start()
    },
    pending: () => pending,
    writing: () => inFlight,
    discard() {
      pending = undefined
      hurry?.()
    },
    async flush() {
      urgent++
      try {
        hurry?.()
        if (loop) await loop
        if (pending === undefined) return
        start()
        await loop
      } finally {
        urgent--
      }
    },
  }
}
