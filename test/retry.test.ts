import t from 'tap'
import { AppError } from '../src/errors.ts'
import { backoffDelay, retry } from '../src/retry.ts'

t.test('backoff grows exponentially, is capped, and is jittered', async (t) => {
  t.equal(backoffDelay(1, { minDelayMs: 100, random: () => 1 }), 100)
  t.equal(backoffDelay(4, { minDelayMs: 100, random: () => 1 }), 800)
  t.equal(backoffDelay(30, { minDelayMs: 100, maxDelayMs: 5000, random: () => 1 }), 5000)
  t.equal(backoffDelay(3, { minDelayMs: 100, random: () => 0.5 }), 200)
  t.equal(backoffDelay(3, { minDelayMs: 100, random: () => 0 }), 0)
})

t.test('retries retriable errors, then succeeds', async (t) => {
  const waits: number[] = []
  let calls = 0
  const result = await retry(async () => {
    calls++
    if (calls < 3) throw new AppError('unavailable', 'try again')
    return 'ok'
  }, { minDelayMs: 1, onRetry: ({ delayMs }) => waits.push(delayMs) })
  t.equal(result, 'ok')
  t.equal(calls, 3)
  t.equal(waits.length, 2)
})

t.test('never retries a permanent error', async (t) => {
  let calls = 0
  await t.rejects(retry(async () => {
    calls++
    throw new AppError('request.invalid', 'bad')
  }, { minDelayMs: 1 }), { code: 'request.invalid' })
  t.equal(calls, 1)
  await t.rejects(retry(async () => {
    throw new Error('unknown errors are not retried')
  }), /unknown errors/)
})

t.test('gives up after the last retry with the last error', async (t) => {
  let calls = 0
  await t.rejects(retry(async () => {
    calls++
    throw new AppError('unavailable', `attempt ${calls}`)
  }, { retries: 2, minDelayMs: 1 }), { message: 'attempt 3' })
  t.equal(calls, 3)
})

t.test('honours Retry-After, and fails at once when it asks for too long', async (t) => {
  const waits: number[] = []
  let calls = 0
  await retry(async () => {
    calls++
    if (calls === 1) throw new AppError('rate-limited', 'slow down', { retryAfterSeconds: 0.05 })
    return 'ok'
  }, { minDelayMs: 1, onRetry: ({ delayMs }) => waits.push(delayMs) })
  t.ok(waits[0]! >= 50, `waited ${waits[0]} ms`)
  let later = 0
  await t.rejects(retry(async () => {
    later++
    throw new AppError('rate-limited', 'come back tomorrow', { retryAfterSeconds: 86_400 })
  }), /tomorrow/)
  t.equal(later, 1)
})

t.test('an abort ends the wait', async (t) => {
  const controller = new AbortController()
  const pending = retry(async () => {
    throw new AppError('unavailable', 'down')
  }, { minDelayMs: 60_000, random: () => 1, signal: controller.signal, onRetry: () => controller.abort(new Error('stopping')) })
  await t.rejects(pending, /stopping|aborted/)
})
