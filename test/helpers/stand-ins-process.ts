/**
 * The stand-ins of a process stack (test/helpers/process-stack.ts), in a child process of
 * their own: the Salesforce stand-in and the Cohort stand-in on free ports. Prints one JSON
 * line on stdout when both listen: `{"salesforce":"http://…","cohort":"http://…"}`; logs go
 * to stderr as JSON lines. Stops on SIGTERM or SIGINT, and when stdin closes, so it cannot
 * outlive the test process that started it.
 *
 * Env: SANDBOX_SALESFORCE_ORGS (default 2); KAFKA_BROKERS (default 127.0.0.1:9092) and
 * KAFKA_TOPIC_COHORT_EVENTS: when the topic is set, the Cohort stand-in publishes its user
 * events there (creating it with KAFKA_PARTITIONS partitions, default 6); LOG_LEVEL
 * (default warn).
 */
import pino from 'pino'
import { createCohortSandbox } from '../../sandbox/cohort/index.ts'
import { createSalesforceSandbox } from '../../sandbox/salesforce/index.ts'
import { createLogger } from '../../src/logger.ts'

const env = process.env
const logger = createLogger({ level: env.LOG_LEVEL ?? 'warn', base: { service: 'stand-ins' }, destination: pino.destination({ dest: 2, sync: true }) })
const topic = env.KAFKA_TOPIC_COHORT_EVENTS

const salesforce = createSalesforceSandbox({ port: 0, orgs: Number(env.SANDBOX_SALESFORCE_ORGS ?? 2), logger: logger.child({ component: 'salesforce-sandbox' }) })
const cohort = createCohortSandbox({
  port: 0,
  logger,
  kafka: topic ? { brokers: (env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','), topic, partitions: Number(env.KAFKA_PARTITIONS ?? 6) } : null,
})

let stopping: Promise<void> | null = null
function stop(code: number): Promise<void> {
  stopping ??= Promise.allSettled([salesforce.stop(), cohort.stop()]).then(() => process.exit(code))
  return stopping
}
process.on('SIGTERM', () => void stop(0))
process.on('SIGINT', () => void stop(0))
// The parent holds our stdin: when it goes away (even killed), so do we.
process.stdin.on('end', () => void stop(0))
process.stdin.on('error', () => void stop(0))
process.stdin.resume()

try {
  const [salesforceUrl, cohortUrl] = await Promise.all([salesforce.start(), cohort.start()])
  process.stdout.write(`${JSON.stringify({ salesforce: salesforceUrl, cohort: cohortUrl })}\n`)
} catch (err) {
  logger.fatal({ err }, 'stand-ins failed to start')
  await stop(1)
}
