/** kafkajs log lines, forwarded into pino as `component: "kafka"`. */
import { logLevel, type logCreator } from 'kafkajs'
import type { Logger } from '../logger.ts'

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
}

/** The kafkajs log level matching a pino level, so kafkajs does not build lines pino drops. */
export function kafkaLogLevel(level: string): logLevel {
  switch (level) {
    case 'trace':
    case 'debug':
      return logLevel.DEBUG
    case 'info':
      return logLevel.INFO
    case 'warn':
      return logLevel.WARN
    case 'silent':
      return logLevel.NOTHING
    default:
      return logLevel.ERROR
  }
}

// kafkajs warnings about choices this client made on purpose, logged at debug. The producer's
// retries are bounded so a send fails within seconds in an outage; after such a failure the
// producer is replaced (src/kafka/producer.ts), which is what keeps idempotence sound.
const DELIBERATE = new Set(['Limiting retries for the idempotent producer may invalidate EoS guarantees'])

export function makeLogCreator(logger: Logger): logCreator {
  return () => ({ namespace, level, log }) => {
    const { message, timestamp: _timestamp, logger: _name, ...extra } = log
    const text = String(message)
    logger[DELIBERATE.has(text) ? 'debug' : (LEVELS[level] ?? 'info')]({ namespace, ...extra }, text)
  }
}
