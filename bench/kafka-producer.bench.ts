/**
 * The project's Kafka producer (src/kafka) against a bare kafkajs producer, in one run, on the
 * broker at TEST_KAFKA_BROKERS (default 127.0.0.1:9092, `npm run kafka -- start`). Both are
 * idempotent with acks -1 and no compression, and each writes to its own fresh topic of 6
 * partitions. Messages are about 500 bytes of JSON with keys `m_X:rec_Y` (50 merchants,
 * 10,000 records each), built before the clock starts.
 *
 * - project: `kafka.produce(topic, 200 messages)` calls with up to 50 in flight, the way the CDC
 *   subscriber drives it (each call waits for its own acknowledgement; the client batches).
 * - bare: `producer.send({ topic, acks: -1, messages })` of 1,000 messages, one after another,
 *   awaited (the simplest fast use of kafkajs: one request in flight, as its idempotent
 *   producer allows per broker anyway).
 *
 * Each side first sends 10 % of the count as warm-up (not timed), then is timed twice, in the
 * order bare, project, project, bare (so heap growth and a neighbour's load fall on both
 * alike), with a GC before each timed run; the figures are the mean of the two.
 *
 *   npm run bench -- kafka-producer            # 200,000 messages each
 *   npm run bench -- kafka-producer --short    # 20,000
 *
 * For experiments: --messages N, --per-call N (200), --in-flight N (50), --bare-batch N (1,000),
 * --max-batch-bytes N and --linger-ms N (the client's ProducerSettings).
 */
import { parseArgs } from 'node:util'
import { CompressionTypes, Kafka, logLevel, Partitioners, type Message } from 'kafkajs'
import { Registry } from 'prom-client'
import { createKafkaClient } from '../src/kafka/index.ts'
import { createLogger } from '../src/logger.ts'

const { values } = parseArgs({ options: { short: { type: 'boolean' }, messages: { type: 'string' }, 'in-flight': { type: 'string' }, 'per-call': { type: 'string' }, 'max-batch-bytes': { type: 'string' }, 'linger-ms': { type: 'string' }, 'bare-batch': { type: 'string' } } })
const total = Number(values.messages ?? (values.short ? 20_000 : 200_000))
const perCall = Number(values['per-call'] ?? 200)
const inFlight = Number(values['in-flight'] ?? 50)
const BARE_BATCH = Number(values['bare-batch'] ?? 1_000)
const PARTITIONS = 6
const brokers = (process.env.TEST_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',')
const log = (line: string) => process.stderr.write(`${line}\n`)
const suffix = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`
const topics = { project: `bench.kafka-producer.project-${suffix}`, bare: `bench.kafka-producer.bare-${suffix}` }

function makeMessages(count: number, offset: number): Message[] {
  const padding = 'x'.repeat(268)
  const messages: Message[] = []
  for (let i = offset; i < offset + count; i++) {
    const merchant = `m_${i % 50}`
    const record = `rec_${Math.floor(i / 50) % 10_000}`
    const value = JSON.stringify({ merchantId: merchant, orgId: '00D000000000001', channel: '/data/ContactChangeEvent', replayId: String(i), changeType: 'UPDATE', recordId: record, fields: { Email: `c${i}@example.com`, Cohort_Points__c: i % 1000 }, padding })
    messages.push({ key: `${merchant}:${record}`, value })
  }
  return messages
}

const warmup = makeMessages(Math.max(1_000, Math.round(total / 10)), 0)
const measured = makeMessages(total, warmup.length)
const averageBytes = Math.round(measured.reduce((sum, m) => sum + String(m.value).length + String(m.key).length, 0) / measured.length)

const logger = createLogger({ level: 'silent' })
const metrics = new Registry()
const client = createKafkaClient({ brokers, clientId: 'bench-kafka-producer', topics: [{ topic: topics.project, numPartitions: PARTITIONS }, { topic: topics.bare, numPartitions: PARTITIONS }], logger, logLevel: 'silent', metrics, producer: { ...(values['max-batch-bytes'] ? { maxBatchBytes: Number(values['max-batch-bytes']) } : {}), ...(values['linger-ms'] ? { lingerMs: Number(values['linger-ms']) } : {}) } })
await client.start()
if (!client.isConnected()) throw new Error(`Kafka at ${brokers.join(',')} is not reachable (npm run kafka -- start)`)

const bareKafka = new Kafka({ clientId: 'bench-bare', brokers, logLevel: logLevel.NOTHING })
const bareProducer = bareKafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true, allowAutoTopicCreation: false })
await bareProducer.connect()

async function sendBare(batch: Message[]): Promise<void> {
  for (let i = 0; i < batch.length; i += BARE_BATCH) {
    await bareProducer.send({ topic: topics.bare, acks: -1, compression: CompressionTypes.None, messages: batch.slice(i, i + BARE_BATCH) })
  }
}

async function runBare(messages: Message[]): Promise<number> {
  globalThis.gc?.()
  const started = performance.now()
  await sendBare(messages)
  return (performance.now() - started) / 1000
}

async function sendsSoFar(): Promise<number> {
  const metric = await metrics.getSingleMetric('bridge_kafka_produce_batches_total')?.get()
  return (metric?.values ?? []).reduce((sum, v) => sum + v.value, 0)
}

async function driveProject(batch: Message[]): Promise<void> {
  let next = 0
  const worker = async () => {
    while (next < batch.length) {
      const chunk = batch.slice(next, next + perCall)
      next += perCall
      await client.produce(topics.project, chunk as Parameters<typeof client.produce>[1])
    }
  }
  await Promise.all(Array.from({ length: inFlight }, worker))
}

async function runProject(messages: Message[]): Promise<{ seconds: number; sends: number }> {
  globalThis.gc?.()
  const before = await sendsSoFar()
  const started = performance.now()
  await driveProject(messages)
  const seconds = (performance.now() - started) / 1000
  return { seconds, sends: (await sendsSoFar()) - before }
}

log(`kafka-producer: ${total.toLocaleString('en-US')} messages of ~${averageBytes} bytes, ${PARTITIONS} partitions`)
await sendBare(warmup)
await driveProject(warmup)
const bareRuns: number[] = []
const projectRuns: { seconds: number; sends: number }[] = []
bareRuns.push(await runBare(measured))
projectRuns.push(await runProject(measured))
projectRuns.push(await runProject(measured))
bareRuns.push(await runBare(measured))
await bareProducer.disconnect()
log(`bare kafkajs: ${bareRuns.map((s) => `${s.toFixed(2)} s`).join(', ')}`)
log(`project: ${projectRuns.map((r) => `${r.seconds.toFixed(2)} s in ${r.sends} sends`).join(', ')}`)
const bareSeconds = (bareRuns[0]! + bareRuns[1]!) / 2
const project = { seconds: (projectRuns[0]!.seconds + projectRuns[1]!.seconds) / 2, sends: projectRuns[0]!.sends }

const ends = { project: await client.endOffsets(topics.project), bare: await client.endOffsets(topics.bare) }
const written = (t: keyof typeof ends) => ends[t].reduce((sum, e) => sum + Number(e.high), 0)
const expected = warmup.length + 2 * total
if (written('project') !== expected || written('bare') !== expected) throw new Error(`expected ${expected} messages in each topic, found ${written('project')} and ${written('bare')}`)
await client.deleteTopics([topics.project, topics.bare])
await client.stop()

const projectPerSecond = Math.round(total / project.seconds)
const barePerSecond = Math.round(total / bareSeconds)
console.log(JSON.stringify({
  bench: 'kafka-producer',
  messages: total,
  bytesPerMessage: averageBytes,
  partitions: PARTITIONS,
  project: { perCall, inFlight, seconds: Number(project.seconds.toFixed(2)), sends: project.sends, messagesPerSecond: projectPerSecond, runs: projectRuns.map((r) => Math.round(total / r.seconds)) },
  bare: { batch: BARE_BATCH, seconds: Number(bareSeconds.toFixed(2)), messagesPerSecond: barePerSecond, runs: bareRuns.map((r) => Math.round(total / r)) },
  ratio: Number((projectPerSecond / barePerSecond).toFixed(2)),
  rssMb: Math.round(process.memoryUsage().rss / 1024 / 1024),
}))
