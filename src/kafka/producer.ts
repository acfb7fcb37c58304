/**
 * The batching producer. `produce()` callers of one topic share sends: their messages wait in
 * a queue per topic, and one send per topic is in flight at a time, carrying everything that
 * queued up meanwhile (up to `maxBatchMessages` and `maxBatchBytes`). An idle queue flushes on
 * the next turn of the event loop, or after `lingerMs` when that is set.
 *
 * Guarantees:
 * - A caller's promise resolves only when every one of its messages is acknowledged by every
 *   in-sync replica (acks -1, idempotent producer); otherwise it rejects with an AppError
 *   `kafka.produce-failed` (retriable unless the broker refused for good).
 * - Order per key: messages of a topic leave in call order, and a topic never has two sends in
 *   flight. When a send fails, every message queued behind it on that topic fails too, so a
 *   caller retrying never has its earlier messages land after later ones.
 * - After a failure that may have left the broker and kafkajs disagreeing about sequence
 *   numbers (a timeout, a lost connection), the next send uses a fresh idempotent producer:
 *   kafkajs 2.2.4 would otherwise reuse the failed batch's sequence numbers, and the broker
 *   could take the next batch for a duplicate and drop it.
 */
import { CompressionTypes, type IHeaders, type Kafka, type Message, type Producer } from 'kafkajs'
import { AppError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import { originalError, toKafkaError } from './errors.ts'
import { createPartitioner } from './partitioner.ts'
import type { KafkaMetrics } from './metrics.ts'

export interface OutgoingMessage {
  key: string | Buffer | null
  value: string | Buffer | null
  headers?: IHeaders
  /** Milliseconds since the epoch, as a string (kafkajs's format). Default: now. */
  timestamp?: string
  /** A fixed partition; default: by key (murmur2, as the Java client). */
  partition?: number
}

export interface ProducerSettings {
  /** How long an idle topic queue waits for more messages before it sends, in ms. Default 0: the next turn of the event loop. */
  lingerMs?: number
  /** Most messages in one send. Default 10,000. */
  maxBatchMessages?: number
  /**
   * Most bytes in one send (keys, values, headers and 24 bytes of record overhead each).
   * Default 1,000,000, under the broker's `message.max.bytes` (1,048,588) even when every
   * message lands in one partition. A single message larger than this is refused up front.
   */
  maxBatchBytes?: number
}

export interface BatchingProducer {
  /** Connect the idempotent producer (creating it when needed). */
  connect(): Promise<void>
  produce(topic: string, messages: OutgoingMessage[]): Promise<void>
  /** Refuse new messages, wait for queued ones to settle, disconnect. */
  close(): Promise<void>
}

interface Caller {
  remaining: number
  settled: boolean
  resolve(): void
  reject(err: AppError): void
}

interface Entry {
  messages: OutgoingMessage[]
  sizes: number[]
  next: number
  caller: Caller
}

interface TopicQueue {
  topic: string
  entries: Entry[]
  count: number
  bytes: number
  timer: { kind: 'linger' | 'immediate'; handle: NodeJS.Timeout | NodeJS.Immediate } | undefined
  loop: Promise<void> | undefined
}

interface ProducerHandle {
  producer: Producer
  ready: Promise<void>
  inflight: number
  retired: boolean
  disconnected: Promise<void> | undefined
}

const RECORD_OVERHEAD_BYTES = 24

// Answers from the broker that mean "not written, and nothing about the producer's state is
// in doubt": the next send may go on the same producer.
const CLEAN_REFUSALS = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_TOPIC_EXCEPTION', 'TOPIC_AUTHORIZATION_FAILED', 'CLUSTER_AUTHORIZATION_FAILED', 'INVALID_RECORD', 'CORRUPT_MESSAGE', 'INVALID_REQUIRED_ACKS'])

function byteSize(value: string | Buffer | null | undefined): number {
  if (value === null || value === undefined) return 0
  return typeof value === 'string' ? Buffer.byteLength(value) : value.length
}

function headersSize(headers: IHeaders | undefined): number {
  if (!headers) return 0
  let size = 0
  for (const [name, value] of Object.entries(headers)) {
    size += Buffer.byteLength(name) + 8
    if (Array.isArray(value)) for (const v of value) size += byteSize(v)
    else size += byteSize(value as string | Buffer | undefined)
  }
  return size
}

function isBytes(value: unknown): boolean {
  return typeof value === 'string' || Buffer.isBuffer(value)
}

export function createBatchingProducer(deps: { kafka: Kafka; logger: Logger; metrics: KafkaMetrics; settings?: ProducerSettings }): BatchingProducer {
  const { kafka, logger, metrics } = deps
  const lingerMs = deps.settings?.lingerMs ?? 0
  const maxBatchMessages = deps.settings?.maxBatchMessages ?? 10_000
  const maxBatchBytes = deps.settings?.maxBatchBytes ?? 1_000_000
  const queues = new Map<string, TopicQueue>()
  const handles = new Set<ProducerHandle>()
  let active: ProducerHandle | undefined
  let closing = false

  function disconnect(handle: ProducerHandle): Promise<void> {
    handle.disconnected ??= handle.ready
      .catch(() => undefined)
      .then(() => handle.producer.disconnect())
      .catch((err: unknown) => logger.warn({ err }, 'disconnecting a retired producer failed'))
      .finally(() => handles.delete(handle))
    return handle.disconnected
  }

  function retire(handle: ProducerHandle): void {
    handle.retired = true
    if (active === handle) active = undefined
    if (handle.inflight === 0) void disconnect(handle)
  }

  /** The connected producer sends go through; a fresh one after a retirement. */
  async function current(): Promise<ProducerHandle> {
    if (!active) {
      const producer = kafka.producer({
        createPartitioner,
        idempotent: true,
        // Bounded, so a send during an outage fails within seconds instead of hanging; the
        // producer is replaced after such a failure (see above), which keeps idempotence sound.
        retry: { retries: 5, initialRetryTime: 300, maxRetryTime: 5_000 },
        allowAutoTopicCreation: false,
      })
      const handle: ProducerHandle = { producer, ready: producer.connect(), inflight: 0, retired: false, disconnected: undefined }
      handles.add(handle)
      active = handle
      handle.ready.catch(() => retire(handle))
    }
    const handle = active
    await handle.ready
    return handle
  }

  function settle(caller: Caller, err?: AppError): void {
    if (caller.settled) return
    caller.settled = true
    if (err) caller.reject(err)
    else caller.resolve()
  }

  function take(q: TopicQueue): { messages: Message[]; parts: { caller: Caller; count: number }[] } {
    const messages: Message[] = []
    const parts: { caller: Caller; count: number }[] = []
    let bytes = 0
    let done = 0
    for (const entry of q.entries) {
      let count = 0
      while (entry.next < entry.messages.length) {
        const size = entry.sizes[entry.next] as number
        if (messages.length > 0 && (messages.length >= maxBatchMessages || bytes + size > maxBatchBytes)) break
        messages.push(entry.messages[entry.next] as Message)
        bytes += size
        entry.next++
        count++
      }
      if (count > 0) parts.push({ caller: entry.caller, count })
      if (entry.next < entry.messages.length) break
      done++
    }
    q.entries.splice(0, done)
    q.count -= messages.length
    q.bytes -= bytes
    return { messages, parts }
  }

  async function sendLoop(q: TopicQueue): Promise<void> {
    while (q.entries.length > 0) {
      const batch = take(q)
      if (batch.messages.length === 0) continue
      let handle: ProducerHandle | undefined
      try {
        handle = await current()
        handle.inflight++
        try {
          await handle.producer.send({ topic: q.topic, messages: batch.messages, acks: -1, compression: CompressionTypes.None })
        } finally {
          handle.inflight--
          if (handle.retired && handle.inflight === 0) void disconnect(handle)
        }
      } catch (err) {
        const error = toKafkaError(err, `producing to ${q.topic}`, 'kafka.produce-failed')
        metrics.produceError(q.topic)
        const behind = q.entries.length
        for (const part of batch.parts) settle(part.caller, error)
        // Nothing queued behind a failed message may overtake it.
        for (const entry of q.entries) settle(entry.caller, error)
        q.entries = []
        q.count = 0
        q.bytes = 0
        const type = (originalError(err) as { type?: string } | undefined)?.type
        if (handle && !CLEAN_REFUSALS.has(type ?? '')) retire(handle)
        logger.warn({ topic: q.topic, messages: batch.messages.length, failedBehind: behind, code: error.code, reason: error.message }, 'produce failed')
        continue
      }
      metrics.batch(q.topic)
      metrics.produced(q.topic, batch.messages.length)
      for (const part of batch.parts) {
        part.caller.remaining -= part.count
        if (part.caller.remaining === 0) settle(part.caller)
      }
    }
  }

  function startLoop(q: TopicQueue): void {
    if (q.timer) {
      if (q.timer.kind === 'linger') clearTimeout(q.timer.handle as NodeJS.Timeout)
      else clearImmediate(q.timer.handle as NodeJS.Immediate)
      q.timer = undefined
    }
    if (q.loop) return
    q.loop = sendLoop(q).catch((err: unknown) => logger.error({ err, topic: q.topic }, 'produce loop failed')).finally(() => {
      q.loop = undefined
      // Entries queued while the last send settled, after the loop had looked.
      if (q.entries.length > 0) schedule(q)
    })
  }

  function schedule(q: TopicQueue): void {
    if (q.loop) return // the running loop takes what arrives
    const full = q.count >= maxBatchMessages || q.bytes >= maxBatchBytes
    if (q.timer && !(full && q.timer.kind === 'linger')) return
    if (q.timer) clearTimeout(q.timer.handle as NodeJS.Timeout)
    q.timer = lingerMs > 0 && !full && !closing
      ? { kind: 'linger', handle: setTimeout(() => startLoop(q), lingerMs) }
      : { kind: 'immediate', handle: setImmediate(() => startLoop(q)) }
  }

  return {
    async connect() {
      await current()
    },

    async produce(topic, messages) {
      if (closing) throw new AppError('kafka.unavailable', 'the Kafka producer is stopping')
      if (typeof topic !== 'string' || topic.length === 0) throw new AppError('kafka.produce-failed', 'a topic name is required', { retriable: false })
      if (messages.length === 0) return
      const sizes = new Array<number>(messages.length)
      let bytes = 0
      for (let i = 0; i < messages.length; i++) {
        const m = messages[i] as OutgoingMessage
        if (!(m.value === null || isBytes(m.value)) || !(m.key === null || m.key === undefined || isBytes(m.key))) {
          throw new AppError('kafka.produce-failed', `message ${i} for ${topic}: key and value must be strings, Buffers or null`, { retriable: false })
        }
        const size = byteSize(m.key) + byteSize(m.value) + headersSize(m.headers) + RECORD_OVERHEAD_BYTES
        if (size > maxBatchBytes) {
          throw new AppError('kafka.produce-failed', `message ${i} for ${topic} is ${size} bytes, over the ${maxBatchBytes}-byte limit`, { retriable: false })
        }
        sizes[i] = size
        bytes += size
      }
      let q = queues.get(topic)
      if (!q) {
        q = { topic, entries: [], count: 0, bytes: 0, timer: undefined, loop: undefined }
        queues.set(topic, q)
      }
      const queue = q
      return new Promise<void>((resolve, reject) => {
        queue.entries.push({ messages, sizes, next: 0, caller: { remaining: messages.length, settled: false, resolve, reject } })
        queue.count += messages.length
        queue.bytes += bytes
        schedule(queue)
      })
    },

    async close() {
      closing = true
      // Send what is queued now instead of lingering, then wait for every topic to settle.
      for (;;) {
        const busy = [...queues.values()].filter((q) => q.loop || q.timer || q.entries.length > 0)
        if (busy.length === 0) break
        for (const q of busy) startLoop(q)
        await Promise.all(busy.map((q) => q.loop))
      }
      active = undefined
      await Promise.all([...handles].map((h) => disconnect(h)))
    },
  }
}
