/**
 * kafkajs's default partitioner with a cheaper murmur2: the same partitions (the Java client's
 * `Utils.murmur2` on the key, positive, modulo the partition count; explicit partitions and
 * messages without a key go to kafkajs's own), but the hash in 32-bit integer arithmetic
 * (Math.imul) instead of kafkajs's 64-bit Long objects, several allocations per 4 key bytes.
 * Only the low 32 bits of kafkajs's products and xors reach its result, so both agree on every
 * key (test/kafka/partitioner.test.ts compares them).
 */
import { Partitioners, type ICustomPartitioner } from 'kafkajs'

const M = 0x5bd1e995

/** The Java client's murmur2 of `data`, as a signed 32-bit integer. */
export function murmur2(data: Uint8Array): number {
  const length = data.length
  let h = 0x9747b28c ^ length
  const whole = length & ~3
  for (let i = 0; i < whole; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24)
    k = Math.imul(k, M)
    k ^= k >>> 24
    k = Math.imul(k, M)
    h = Math.imul(h, M) ^ k
  }
  const rest = length & 3
  if (rest === 3) h ^= data[whole + 2]! << 16
  if (rest >= 2) h ^= data[whole + 1]! << 8
  if (rest >= 1) h = Math.imul(h ^ data[whole]!, M)
  h ^= h >>> 13
  h = Math.imul(h, M)
  h ^= h >>> 15
  return h | 0
}

export const createPartitioner: ICustomPartitioner = () => {
  const fallback = Partitioners.DefaultPartitioner()
  return (args) => {
    const { message, partitionMetadata } = args
    if (message.partition !== null && message.partition !== undefined) return message.partition
    if (message.key === null || message.key === undefined) return fallback(args)
    const key = Buffer.isBuffer(message.key) ? message.key : Buffer.from(String(message.key))
    return (murmur2(key) & 0x7fffffff) % partitionMetadata.length
  }
}
