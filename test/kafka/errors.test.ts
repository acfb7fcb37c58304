/**
 * The classifier of kafkajs errors, on kafkajs's own error classes: what is retried, what
 * becomes which AppError, and the short reasons health shows.
 */
import { createRequire } from 'node:module'
import t from 'tap'
import { AppError } from '../../src/errors.ts'
import { isRetriableKafkaError, shortReason, toKafkaError } from '../../src/kafka/errors.ts'

// kafkajs builds its exports at run time, so ESM cannot name its error classes.
const { KafkaJSConnectionError, KafkaJSError, KafkaJSNonRetriableError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError, KafkaJSRequestTimeoutError } = createRequire(import.meta.url)('kafkajs') as typeof import('kafkajs')
const protocol = (type: string, retriable: boolean) => new KafkaJSProtocolError({ message: `broker says ${type}`, type, code: 1, retriable } as unknown as Error)
const refused = new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:1', { broker: '127.0.0.1:1', code: 'ECONNREFUSED' })

t.test('connection problems and broker-side retriable errors are retriable, permanent ones are not', async (t) => {
  t.ok(isRetriableKafkaError(refused), 'connection refused')
  t.ok(isRetriableKafkaError(new KafkaJSRequestTimeoutError('Request Produce timed out')), 'request timeout')
  t.ok(isRetriableKafkaError(protocol('UNKNOWN_TOPIC_OR_PARTITION', true)), 'unknown topic (may be being created)')
  t.ok(isRetriableKafkaError(protocol('GROUP_COORDINATOR_NOT_AVAILABLE', true)), 'coordinator not yet there')
  t.notOk(isRetriableKafkaError(protocol('TOPIC_AUTHORIZATION_FAILED', false)), 'authorization')
  t.notOk(isRetriableKafkaError(protocol('INVALID_TOPIC_EXCEPTION', false)), 'invalid topic')
  t.notOk(isRetriableKafkaError(new KafkaJSNonRetriableError('Invalid topic')), 'a bad argument')
  t.notOk(isRetriableKafkaError(new Error('something else')), 'errors of unknown origin')
  t.notOk(isRetriableKafkaError(new TypeError('x is undefined')))
})

t.test('kafkajs wrappers are judged by what they wrap', async (t) => {
  const spent = new KafkaJSNumberOfRetriesExceeded(refused, { retryCount: 2, retryTime: 300 })
  t.equal(spent.retriable, false, 'kafkajs marks the wrapper non-retriable')
  t.ok(isRetriableKafkaError(spent), 'but the connection can come back')
  // What kafkajs's retrier throws for a non-retriable error (its types omit the options).
  const NonRetriable = KafkaJSNonRetriableError as unknown as new (e: Error, options: { cause: Error }) => Error
  const denied = protocol('GROUP_AUTHORIZATION_FAILED', false)
  const wrappedPermanent = new NonRetriable(denied, { cause: denied })
  t.notOk(isRetriableKafkaError(wrappedPermanent))
  t.equal(shortReason(wrappedPermanent), 'GROUP_AUTHORIZATION_FAILED')
  t.ok(isRetriableKafkaError(new KafkaJSError('The producer is disconnected')), 'another KafkaJSError keeps its own flag (true)')
  t.notOk(isRetriableKafkaError(new KafkaJSNonRetriableError('Invalid partitions')), '…or false')
})

t.test('AppErrors speak for themselves; toKafkaError keeps the cause and a coded, message-free reason', async (t) => {
  t.ok(isRetriableKafkaError(new AppError('kafka.unavailable', 'down')))
  t.notOk(isRetriableKafkaError(new AppError('internal', 'bug')))
  const wrapped = toKafkaError(refused, 'connect')
  t.match(wrapped, { code: 'kafka.unavailable', retriable: true })
  t.equal(wrapped.cause, refused)
  t.equal(shortReason(wrapped), 'ECONNREFUSED')
  const produce = toKafkaError(protocol('MESSAGE_TOO_LARGE', false), 'producing', 'kafka.produce-failed')
  t.match(produce, { code: 'kafka.produce-failed', retriable: false })
  t.equal(shortReason(produce), 'MESSAGE_TOO_LARGE')
  t.equal(shortReason(new AppError('cohort.unavailable', 'Cohort said no, token=abc')), 'cohort.unavailable')
  t.equal(shortReason(new Error('a message with a host 10.0.0.1 in it')), 'Error', 'never the message')
  t.equal(toKafkaError(wrapped, 'again'), wrapped, 'an AppError passes through')
})

t.test('a permanent refusal becomes kafka.rejected, an outage kafka.unavailable', async (t) => {
  const rejected = toKafkaError(protocol('TOPIC_AUTHORIZATION_FAILED', false), 'subscribe')
  t.equal(rejected.code, 'kafka.rejected')
  t.equal(rejected.retriable, false)
  const outage = toKafkaError(refused, 'connect')
  t.equal(outage.code, 'kafka.unavailable')
  t.equal(outage.retriable, true)
  t.equal(toKafkaError(protocol('INVALID_TOPIC_EXCEPTION', false), 'produce', 'kafka.produce-failed').code, 'kafka.produce-failed', 'an explicit code is kept')
})
