/**
 * The one retry helper: exponential backoff with full jitter, an abortable sleep, and
 * `Retry-After` honoured. Only errors that say they are retriable are retried.
 */
import { setTimeout as delay } from 'node:timers/promises'
import { AppError, isRetriable } from './errors.ts'

export interface RetryOptions {
  /** Attempts after the first. Default 5. */
  retries?: number
  /** First backoff ceiling in ms. Default 200. */
  minDelayMs?: number
  /** Largest backoff in ms (Retry-After may ask for more, up to `maxRetryAfterMs`). Default 30 000. */
  maxDelayMs?: number
  /** Longest Retry-After obeyed in ms; a longer one fails now. Default 300 000. */
  maxRetryAfterMs?: number
  /** Decides what is worth retrying. Default {@link isRetriable}. */
  shouldRetry?: (err: unknown) => boolean
  /** Called before each wait (log it, count it). */
  onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void
  signal?: AbortSignal
  /** Source of randomness, for tests. Default Math.random. */
  random?: () => number
}

/** Backoff before `attempt` (1-based): a random point in [0, min(max, min·2^(attempt-1))]. */
export function backoffDelay(attempt: number, options: Pick<RetryOptions, 'minDelayMs' | 'maxDelayMs' | 'random'> = {}): number {
  const min = options.minDelayMs ?? 200
  const max = options.maxDelayMs ?? 30_000
  const ceiling = Math.min(max, min * 2 ** Math.max(0, attempt - 1))
  return Math.round((options.random ?? Math.random)() * ceiling)
}

/** Sleep that ends early, with the signal's reason, when `signal` aborts. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  await delay(ms, undefined, signal ? { signal } : undefined)
}

function retryAfterMs(err: unknown): number | undefined {
  if (err instanceof AppError && err.retryAfterSeconds !== undefined) return err.retryAfterSeconds * 1000
  return undefined
}

/**
 * Settle with `promise`, or reject with `onTimeout()` after `ms`. For calls through libraries
 * that take no deadline of their own (kafkajs admin, jsforce): the call itself is not
 * cancelled, only no longer waited for.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** Run `fn` until it succeeds, fails permanently, runs out of retries, or `signal` aborts. */
export async function retry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const retries = options.retries ?? 5
  const shouldRetry = options.shouldRetry ?? isRetriable
  const maxRetryAfter = options.maxRetryAfterMs ?? 300_000
  for (let attempt = 1; ; attempt++) {
    options.signal?.throwIfAborted()
    try {
      return await fn(attempt)
    } catch (error) {
      if (options.signal?.aborted || attempt > retries || !shouldRetry(error)) throw error
      const asked = retryAfterMs(error)
      if (asked !== undefined && asked > maxRetryAfter) throw error
      const delayMs = Math.max(asked ?? 0, backoffDelay(attempt, options))
      options.onRetry?.({ attempt, delayMs, error })
      await sleep(delayMs, options.signal)
    }
  }
}
