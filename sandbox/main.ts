/**
 * `npm run sandbox`: the local stand-ins, standalone (also started by `npm run dev`).
 * Cohort on SANDBOX_COHORT_PORT (8082) publishing user events to KAFKA_TOPIC_COHORT_EVENTS on
 * KAFKA_BROKERS (the local broker is started when nothing answers), and delivering them as
 * Standard Webhooks to SANDBOX_COHORT_WEBHOOK_URL when that is set.
 */
import { DEV_WEBHOOK_SECRET } from '../src/config.ts'
import { createLogger } from '../src/logger.ts'
import { ensureKafka } from '../scripts/lib/local-stack.ts'
import { COHORT_SANDBOX_TOKEN, createCohortSandbox } from './cohort/index.ts'

const env = process.env
const logger = createLogger({ level: env.LOG_LEVEL ?? 'info', base: { service: 'sandbox' } })
const kafka = await ensureKafka(env.KAFKA_BROKERS ?? '127.0.0.1:9092')

const cohort = createCohortSandbox({
  port: Number(env.SANDBOX_COHORT_PORT ?? 8082),
  logger,
  kafka: { brokers: kafka.brokers.split(','), topic: env.KAFKA_TOPIC_COHORT_EVENTS ?? 'cohort.user-events', partitions: Number(env.KAFKA_PARTITIONS ?? 6) },
  webhook: env.SANDBOX_COHORT_WEBHOOK_URL ? { url: env.SANDBOX_COHORT_WEBHOOK_URL, secret: env.COHORT_WEBHOOK_SECRET ?? DEV_WEBHOOK_SECRET } : null,
})
const cohortUrl = await cohort.start()

process.stderr.write([
  '',
  `[sandbox] Cohort stand-in      ${cohortUrl}   service token ${COHORT_SANDBOX_TOKEN}; admin API under /__sandbox (docs/sandbox-cohort.md)`,
  '',
].join('\n'))

let stopping = false
const stop = async () => {
  if (stopping) return
  stopping = true
  await cohort.stop()
  kafka.stop()
  process.exit(0)
}
process.on('SIGINT', () => void stop())
process.on('SIGTERM', () => void stop())
