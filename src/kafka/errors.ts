/**
 * What a kafkajs error means for us: whether retrying can help, the AppError it becomes, and
 * a short coded text for health and logs that never carries a driver message.
 */
import { AppError, type ErrorCode } from '../errors.ts'

// kafkajs gives up with these wrappers; what matters is the error underneath.
const WRAPPERS = new Set(['KafkaJSNumberOfRetriesExceeded', 'KafkaJSNonRetriableError'])

// The cluster is (for now) not there or not ready: worth trying again later, whatever
// flag kafkajs put on them (some extend KafkaJSNonRetriableError only to stop its own retrier).
const UNAVAILABLE = new Set([
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSRequestTimeoutError',
  'KafkaJSBrokerNotFound',
  'KafkaJSNoBrokerAvailableError',
  'KafkaJSGroupCoordinatorNotFound',
  'KafkaJSMetadataNotLoaded',
  'KafkaJSTopicMetadataNotLoaded',
  'KafkaJSStaleTopicMetadataAssignment',
  'KafkaJSLockTimeout',
  'KafkaJSTimeout',
])

// Node socket errors that reach us unwrapped (a probe, a DNS failure).
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE'])

interface DriverError {
  name?: string
  type?: string
  code?: unknown
  retriable?: unknown
  cause?: unknown
}

function asDriverError(err: unknown): DriverError | undefined {
  return typeof err === 'object' && err !== null ? (err as DriverError) : undefined
}

/** The error kafkajs's wrappers stand for (a retry budget spent, a non-retriable wrap). */
export function originalError(err: unknown): unknown {
  let current = err
  for (let depth = 0; depth < 10; depth++) {
    const e = asDriverError(current)
    if (!e || !WRAPPERS.has(e.name ?? '') || e.cause === undefined || e.cause === current) return current
    current = e.cause
  }
  return current
}

/**
 * True when retrying may succeed: connection problems, a broker or coordinator not (yet)
 * available, timeouts, Kafka protocol errors Kafka marks retriable (UNKNOWN_TOPIC_OR_PARTITION,
 * NOT_LEADER…). False for permanent ones (INVALID_TOPIC_EXCEPTION, *_AUTHORIZATION_FAILED,
 * MESSAGE_TOO_LARGE, a bad argument) and for errors of unknown origin. An AppError says itself.
 */
export function isRetriableKafkaError(err: unknown): boolean {
  if (err instanceof AppError) return err.retriable
  const original = originalError(err)
  if (original instanceof AppError) return original.retriable
  const e = asDriverError(original)
  if (!e) return false
  if (UNAVAILABLE.has(e.name ?? '')) return true
  if (typeof e.code === 'string' && SOCKET_CODES.has(e.code)) return true
  if (e.name === 'KafkaJSProtocolError' || e.name === 'KafkaJSOffsetOutOfRange' || e.name === 'KafkaJSCreateTopicError') return e.retriable === true
  // The wrapper itself: kafkajs ran out of retries on something it found retriable.
  if (asDriverError(err)?.name === 'KafkaJSNumberOfRetriesExceeded') return e.retriable !== false
  // Any other kafkajs error carries its own verdict.
  if (e.name?.startsWith('KafkaJS') && typeof e.retriable === 'boolean') return e.retriable
  return false
}

/**
 * A short, coded reason: `KafkaJSConnectionError`, `TOPIC_AUTHORIZATION_FAILED`, an AppError's
 * code, or an error class name. Safe for anonymous callers (/readyz): no driver message, no host.
 */
export function shortReason(err: unknown): string {
  const original = originalError(err)
  if (original instanceof AppError) {
    // Our own wrap of a driver error: what the driver said is the useful part.
    if (original.code.startsWith('kafka.') && original.cause !== undefined && !(original.cause instanceof AppError)) return shortReason(original.cause)
    return original.code
  }
  const e = asDriverError(original)
  if (!e) return 'unknown'
  if (typeof e.type === 'string' && /^[A-Z_]+$/.test(e.type)) return e.type
  if (typeof e.code === 'string' && /^E[A-Z_]+$/.test(e.code)) return e.code
  return /^\w{1,60}$/.test(e.name ?? '') ? (e.name as string) : 'Error'
}

/**
 * Wrap what kafkajs threw into an AppError with the cause kept: `kafka.unavailable` (or the
 * `code` given; a permanent refusal is `kafka.rejected`) whose retriable flag follows {@link isRetriableKafkaError}. An AppError
 * passes through unchanged.
 */
export function toKafkaError(err: unknown, what: string, code: ErrorCode = 'kafka.unavailable'): AppError {
  if (err instanceof AppError) return err
  const reason = err instanceof Error ? err.message : String(err)
  const retriable = isRetriableKafkaError(err)
  // A permanent refusal (invalid topic, authorization) is not an outage: its own code.
  const chosen: ErrorCode = !retriable && code === 'kafka.unavailable' ? 'kafka.rejected' : code
  return new AppError(chosen, `Kafka ${what} failed (${shortReason(err)}): ${reason}`, { cause: err, retriable })
}
