/**
 * The export benchmark's producer, on a worker thread: Cohort produces its user events from
 * its own systems, so making and sending them must not share the exporter's event loop (as in
 * the import benchmark's steady-updates.ts). Sends `events` to `topic` through the project's
 * producer (`kafka.produce` of `perCall`, `inFlight` calls at once), then posts back how long
 * that took.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { createKafkaClient } from '../src/kafka/index.ts'
import { createLogger } from '../src/logger.ts'

export interface ProduceJob {
  brokers: string[]
  topic: string
  events: Array<{ key: string; value: string }>
  perCall: number
  inFlight: number
}

const { brokers, topic, events, perCall, inFlight } = workerData as ProduceJob
const kafka = createKafkaClient({ brokers, clientId: 'bench-export-producer', topics: [], logger: createLogger({ level: 'warn' }) })
await kafka.start()
// Ready: the parent starts its clock at the go.
parentPort!.postMessage({ ready: true })
await new Promise<void>((resolve) => parentPort!.once('message', () => resolve()))
const started = performance.now()
let next = 0
const worker = async () => {
  while (next < events.length) {
    const chunk = events.slice(next, next + perCall)
    next += perCall
    await kafka.produce(topic, chunk)
  }
}
await Promise.all(Array.from({ length: inFlight }, worker))
const seconds = (performance.now() - started) / 1000
await kafka.stop()
parentPort!.postMessage({ seconds })
