/**
 * Lifetimes. Every long-lived resource is a `Component`: `start()` and `stop()` are
 * idempotent, and a call made while the other is in flight waits for it instead of racing.
 * A start that fails half-way releases what it had opened (its stop hook runs) before the
 * error reaches the caller; `startAll` does the same for a list of components.
 */
import type { Logger } from './logger.ts'

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
        // Release whatever the start had opened, then report the start's own error.
        (err: unknown) =>
          hooks.stop().then(
            () => {
              state = 'stopped'
              throw err
            },
            (stopErr: unknown) => {
              state = 'stopped'
              throw new AggregateError([err, stopErr], `${name}: start failed and releasing it failed too`, { cause: err })
            },
          ),
      )
    return pending
  }

  // A stop during a start waits for the start, then undoes it. Stop hooks must tolerate a
  // start that failed half-way: they run after one.
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

/**
 * Start components in order. When one fails, the ones already started are stopped in
 * reverse before the error is rethrown, so nothing stays open.
 */
export async function startAll(components: readonly Component[], logger?: Logger): Promise<void> {
  const started: Component[] = []
  try {
    for (const component of components) {
      await component.start()
      started.push(component)
    }
  } catch (err) {
    await stopAll(started, logger)
    throw err
  }
}

/** Stop components in reverse order; a failing stop is logged and the others still stop. */
export async function stopAll(components: readonly Component[], logger?: Logger): Promise<void> {
  for (const component of [...components].reverse()) {
    await component.stop().catch((err: unknown) => logger?.error({ err, component: component.name }, 'component stop failed'))
  }
}
