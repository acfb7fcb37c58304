/**
 * kafkajs 2.2.4 (its last release) arms a timer with a negative delay after every broker
 * response: `RequestQueue.scheduleCheckPendingRequests` computes `throttledUntil - now` with
 * `throttledUntil = -1` when nothing is throttled and nothing is pending, and Node ≥ 23
 * prints a `TimeoutNegativeWarning` for it (tulios/kafkajs#1751). Node clamps the delay to
 * 1 ms, so the queue also polls itself every millisecond for nothing (tulios/kafkajs#1704).
 * No kafkajs option reaches that code path.
 *
 * `avoidNegativeKafkaTimer()` replaces that one method with the fix proposed upstream
 * (tulios/kafkajs#1768): when nothing is pending and no throttle is in effect there is
 * nothing to check, so no timer is armed. Pending requests and throttles are scheduled
 * exactly as before. The stand-in's producer applies it when it starts. The bridge applies
 * the same fix from its own client (src/kafka/request-queue-fix.ts); the stand-in keeps its
 * copy so that it never imports src/kafka. The patch is process-wide and idempotent, and
 * does nothing on another kafkajs version.
 */
import { createRequire } from 'node:module'

interface RequestQueueInternals {
  throttledUntil: number
  pending: unknown[]
  throttleCheckTimeoutId: NodeJS.Timeout | null
  checkPendingRequests(): void
  scheduleCheckPendingRequests(): void
}

const PATCHED_VERSION = '2.2.4'
/** kafkajs's CHECK_PENDING_REQUESTS_INTERVAL. */
const CHECK_PENDING_REQUESTS_INTERVAL = 10
let applied = false

/** Returns true when the method was replaced (now or earlier), false on another version. */
export function avoidNegativeKafkaTimer(): boolean {
  if (applied) return true
  const require = createRequire(import.meta.url)
  const { version } = require('kafkajs/package.json') as { version: string }
  if (version !== PATCHED_VERSION) return false
  const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as { prototype: RequestQueueInternals }
  RequestQueue.prototype.scheduleCheckPendingRequests = function scheduleCheckPendingRequests(this: RequestQueueInternals) {
    if (this.throttleCheckTimeoutId) return
    let scheduleAt = this.throttledUntil - Date.now()
    if (this.pending.length > 0) scheduleAt = scheduleAt > 0 ? scheduleAt : CHECK_PENDING_REQUESTS_INTERVAL
    else if (scheduleAt <= 0) return
    this.throttleCheckTimeoutId = setTimeout(() => {
      this.throttleCheckTimeoutId = null
      this.checkPendingRequests()
    }, scheduleAt)
  }
  applied = true
  return true
}
