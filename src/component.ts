/**
 * Lifetimes. Every long-lived resource is a `Component`: `start()` and `stop()` are
 * idempotent, and a call made while the other is in flight waits for it instead of racing.
 */

export interface Component {
  readonly name: string
  start(): Promise<void>
  stop(): Promise<void>
}

export interface ComponentHooks {
  start: () => Promise<void>
  stop: () => Promise<void>
}

/** Wrap plain start/stop functions so repeated and concurrent calls are safe. */
export function createComponent(name: string, hooks: ComponentHooks): Component {
  let state: 'stopped' | 'starting' | 'started' | 'stopping' = 'stopped'
  let pending: Promise<void> = Promise.resolve()
  const settle = () => pending.catch(() => undefined)

  // State changes happen synchronously so that two calls in the same tick agree.
  const start = (): Promise<void> => {
    if (state === 'started' || state === 'starting') return pending
    state = 'starting'
    pending = settle()
      .then(() => hooks.start())
      .then(
        () => {
          state = 'started'
        },
        (err: unknown) => {
          state = 'stopped'
          throw err
        },
      )
    return pending
  }

  // A stop during a start waits for the start, then undoes it; stop hooks must tolerate
  // a start that failed halfway.
  const stop = (): Promise<void> => {
    if (state === 'stopped') return settle()
    if (state === 'stopping') return pending
    state = 'stopping'
    pending = settle()
      .then(() => hooks.stop())
      .finally(() => {
        state = 'stopped'
      })
    return pending
  }

  return { name, start, stop }
}
