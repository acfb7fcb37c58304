/** Ids both backends make: time-ordered UUIDv7s. */
import { randomFillSync } from 'node:crypto'

let lastMs = 0
let sequence = 0

// Random bytes drawn a few kilobytes at a time: one call into OpenSSL per 512 ids instead of
// one per id (a batch writes an id per trace entry, and that call was most of an insert).
const POOL_BYTES = 4096
const pool = Buffer.allocUnsafe(POOL_BYTES)
let poolOffset = POOL_BYTES
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

/**
 * A UUIDv7 whose 12-bit rand_a field is a per-process counter, so ids made in the same
 * millisecond still sort in creation order: newest-first pages then follow insertion order
 * even when timestamps tie.
 */
export function newId(nowMs: number = Date.now()): string {
  if (nowMs > lastMs) {
    lastMs = nowMs
    sequence = 0
  } else if (++sequence > 0xfff) {
    // Counter exhausted (or the clock went back): borrow the next millisecond.
    lastMs++
    sequence = 0
  }
  if (poolOffset + 8 > POOL_BYTES) {
    randomFillSync(pool)
    poolOffset = 0
  }
  const r = poolOffset
  poolOffset += 8
  // 48-bit milliseconds as 12 hex digits (above 2^32, so in two parts).
  const time = Math.floor(lastMs / 0x10000).toString(16).padStart(8, '0') + (lastMs % 0x10000).toString(16).padStart(4, '0')
  const variant = HEX[0x80 | (pool[r]! & 0x3f)]! + HEX[pool[r + 1]!]!
  const rest = HEX[pool[r + 2]!]! + HEX[pool[r + 3]!]! + HEX[pool[r + 4]!]! + HEX[pool[r + 5]!]! + HEX[pool[r + 6]!]! + HEX[pool[r + 7]!]!
  return `${time.slice(0, 8)}-${time.slice(8)}-${(0x7000 | sequence).toString(16)}-${variant}-${rest}`
}
