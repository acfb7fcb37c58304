/**
 * A queue of commands for one async loop: faye callbacks, timers and the flush loop push
 * synchronously, the stream's control loop takes them one at a time, so its state changes
 * never interleave.
 */
export interface Mailbox<T> {
  push(item: T): void
  /** The next item, waiting when there is none. */
  next(): Promise<T>
}

export function createMailbox<T>(): Mailbox<T> {
  const items: T[] = []
  let waiting: ((item: T) => void) | null = null
  return {
    push(item) {
      if (waiting) {
        const resolve = waiting
        waiting = null
        resolve(item)
      } else {
        items.push(item)
      }
    },
    next() {
      if (items.length > 0) return Promise.resolve(items.shift()!)
      return new Promise<T>((resolve) => {
        waiting = resolve
      })
    },
  }
}

/** A wait that ends early on `wake()` or when `signal` aborts; never rejects. */
export function createWaker(): { wait(ms: number, signal: AbortSignal): Promise<void>; wake(): void } {
  let wakeUp: (() => void) | null = null
  return {
    wait(ms, signal) {
      if (signal.aborted) return Promise.resolve()
      return new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer)
          signal.removeEventListener('abort', done)
          if (wakeUp === done) wakeUp = null
          resolve()
        }
        const timer = setTimeout(done, Math.max(0, ms))
        signal.addEventListener('abort', done, { once: true })
        wakeUp = done
      })
    },
    wake() {
      wakeUp?.()
    },
  }
}
