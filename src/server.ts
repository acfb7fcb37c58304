/**
 * Entry point of the service: loads the config, builds the services (src/services.ts),
 * migrates the store, listens, and owns the signals. First SIGTERM/SIGINT: graceful shutdown (stop
 * intake, drain, close). Second signal, or a shutdown slower than 30 s: forced exit.
 */
import type { FastifyInstance } from 'fastify'
import { buildApp } from './app.ts'
import { loadConfig, type Config } from './config.ts'
import { syncEngines } from './engines.ts'
import { AppError } from './errors.ts'
import { buildMetricsApp } from './http/index.ts'
import { createLogger, type Logger } from './logger.ts'
import { createServices, type ComponentFactory } from './services.ts'

const SHUTDOWN_TIMEOUT_MS = 30_000

export interface RunningServer {
  app: FastifyInstance
  /** Where the main listener ended up (useful with PORT=0). */
  url: string
  metricsUrl: string | null
  close(): Promise<void>
}

export interface StartOptions {
  /** The engines (CDC subscriber, importer, exporter, …), made from the services. */
  components?: ComponentFactory[]
}

/** Everything `serve` does short of owning the process: usable from tests and the CLI. */
export async function startServer(config: Config, logger: Logger, options: StartOptions = {}): Promise<RunningServer> {
  const services = createServices(config, { logger })
  let app: FastifyInstance | undefined
  let metricsApp: FastifyInstance | null = null
  try {
    const migration = await services.store.migrate()
    logger.info({ backend: services.store.backend, schemaVersion: migration.current, applied: migration.applied }, 'state store ready')
    app = await buildApp(services, { components: options.components ?? [] })
    metricsApp = config.metricsPort === null ? null : buildMetricsApp(services.metrics, logger)
    const url = await app.listen({ port: config.port, host: config.host })
    const metricsUrl = metricsApp ? await metricsApp.listen({ port: config.metricsPort ?? 0, host: config.host }) : null
    logger.info({ url, metricsUrl }, 'salesforce-bridge listening')
    const running = app
    const metrics = metricsApp
    return {
      app: running,
      url,
      metricsUrl,
      async close() {
        await Promise.all([running.close(), metrics?.close()])
      },
    }
  } catch (err) {
    // Whatever had opened is released: the app closes the services, or they stop here.
    await Promise.allSettled([app ? app.close() : services.stop(), metricsApp?.close()])
    throw err
  }
}

/** Resolves when every log line written so far reached its destination (2 s at most). */
function flushLogs(logger: Logger | null): Promise<void> {
  if (!logger) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 2000)
    timer.unref()
    logger.flush(() => {
      clearTimeout(timer)
      resolve()
    })
  })
}

function exitAfterFlush(logger: Logger | null, code: number): void {
  void flushLogs(logger).then(() => process.exit(code))
}

/** Print one clear line and exit non-zero: no stack trace for an expected failure. */
async function fail(logger: Logger | null, err: unknown): Promise<never> {
  const message = err instanceof AppError ? err.message : err instanceof Error ? err.message : String(err)
  logger?.fatal({ err }, 'salesforce-bridge failed to start')
  process.stderr.write(`salesforce-bridge: ${message}\n`)
  await flushLogs(logger)
  process.exit(1)
}

/**
 * Node's process warnings go to the JSON log instead of bare stderr text. kafkajs 2.2.4 sets
 * one timer with a negative delay on Node >= 23 (tulios/kafkajs#1751; Node clamps it to 1 ms,
 * which is what kafkajs meant), so that one is logged at debug only.
 */
function routeProcessWarnings(logger: Logger): void {
  process.removeAllListeners('warning')
  process.on('warning', (warning) => {
    const level = warning.name === 'TimeoutNegativeWarning' ? 'debug' : 'warn'
    logger[level]({ warning: { name: warning.name, message: warning.message } }, 'node process warning')
  })
}

export async function main(): Promise<void> {
  let config: Config
  try {
    config = loadConfig(process.env)
  } catch (err) {
    return fail(null, err)
  }
  const logger = createLogger({ level: config.logLevel })
  routeProcessWarnings(logger)

  let server: RunningServer
  try {
    server = await startServer(config, logger, { components: syncEngines() })
  } catch (err) {
    return fail(logger, err)
  }

  let closing = false
  const shutdown = (signal: string) => {
    if (closing) {
      logger.warn({ signal }, 'second signal: forcing exit')
      exitAfterFlush(logger, 1)
      return
    }
    closing = true
    logger.info({ signal }, 'shutting down: stopping intake, draining work')
    const force = setTimeout(() => {
      logger.error({ timeoutMs: SHUTDOWN_TIMEOUT_MS }, 'shutdown took too long: forcing exit')
      exitAfterFlush(logger, 1)
    }, SHUTDOWN_TIMEOUT_MS)
    force.unref()
    server.close().then(
      () => {
        logger.info('stopped')
        exitAfterFlush(logger, 0)
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed')
        exitAfterFlush(logger, 1)
      },
    )
  }
  process.on('SIGTERM', () => shutdown('SIGTERM'))
  process.on('SIGINT', () => shutdown('SIGINT'))
  process.on('unhandledRejection', (err) => {
    logger.fatal({ err }, 'unhandled rejection')
    shutdown('unhandledRejection')
  })
}

if (import.meta.main) await main()
