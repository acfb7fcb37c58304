/**
 * kafkajs 2.2.4's request queue, after every broker response, schedules its next check at
 * `throttledUntil - Date.now()`. Unthrottled, `throttledUntil` is -1, so that is a huge
 * negative delay: Node ≥ 23 prints `TimeoutNegativeWarning` (tulios/kafkajs#1751) and clamps
 * it to 1 ms, and the check re-schedules itself the same way, a 1 ms timer loop per
 * connection for as long as it is open (tulios/kafkajs#1704).
 *
 * This replaces that one method with the fix proposed upstream (#1768 review): schedule a
 * check only when a request is pending or a throttle is running; a response or a new request
 * checks the queue again anyway. Applied once, only to the kafkajs version it was written
 * for: another version keeps its own code (and test/kafka/request-queue-fix.test.ts fails,
 * so an upgrade is reviewed).
 */
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const PATCHED_VERSION = '2.2.4'
// kafkajs's own CHECK_PENDING_REQUESTS_INTERVAL.
const CHECK_PENDING_REQUESTS_INTERVAL_MS = 10

interface RequestQueueInternals {
  pending: unknown[]
  throttledUntil: number
  throttleCheckTimeoutId: NodeJS.Timeout | null
  checkPendingRequests(): void
  scheduleCheckPendingRequests(): void
}

let applied: boolean | undefined

/** Patch kafkajs's RequestQueue once; true when the patch is in place. */
export function fixRequestQueue(): boolean {
  if (applied !== undefined) return applied
  const { version } = require('kafkajs/package.json') as { version: string }
  if (version !== PATCHED_VERSION) return (applied = false)
  const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as { prototype: RequestQueueInternals }
  RequestQueue.prototype.scheduleCheckPendingRequests = function scheduleCheckPendingRequests(this: RequestQueueInternals) {
    if (this.throttleCheckTimeoutId) return
    const untilUnthrottled = this.throttledUntil - Date.now()
    let delayMs: number
    if (this.pending.length > 0) delayMs = untilUnthrottled > 0 ? untilUnthrottled : CHECK_PENDING_REQUESTS_INTERVAL_MS
    else if (untilUnthrottled > 0) delayMs = untilUnthrottled
    else return
    this.throttleCheckTimeoutId = setTimeout(() => {
      this.throttleCheckTimeoutId = null
      this.checkPendingRequests()
    }, delayMs)
  }
  return (applied = true)
}
