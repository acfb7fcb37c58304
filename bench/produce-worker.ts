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
import { produceEvents } from './produce-events.ts'

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
const seconds = await produceEvents(kafka, topic, events, perCall, inFlight)
await kafka.stop()
parentPort!.postMessage({ seconds })
