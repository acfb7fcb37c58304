/**
 * The local Cohort: the internal API of contracts §4, user events on the real Kafka topic
 * (and optionally as Standard Webhooks), and the admin API of contracts §7. In-process for
 * tests (`createCohortSandbox({ port: 0 })`), standalone through `npm run sandbox`.
 * docs/sandbox-cohort.md documents it.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { createLogger, type Logger } from '../../src/logger.ts'
import { registerAdminApi } from './admin.ts'
import { registerInternalApi, sendRefusal } from './api.ts'
import { createEventSink } from './events.ts'
import { createFaultBook } from './faults.ts'
import { CohortRefusal, createCohortModel, type CohortModel } from './model.ts'

export type { User, UserEvent, PropertyDefinition } from './model.ts'
export { signWebhook } from './events.ts'
export { avoidNegativeKafkaTimer } from './kafkajs-timer.ts'

export const COHORT_SANDBOX_TOKEN = 'sandbox-cohort-token'

export interface CohortSandboxOptions {
  /** Default 8082; 0 picks a free port. */
  port?: number
  host?: string
  /** Service token the internal API accepts. Default `sandbox-cohort-token`. */
  token?: string
  /**
   * Publish user events to this Kafka topic (created with `partitions`, default 6, when
   * missing) through the stand-in's own kafkajs producer, acks=-1; null: count them only.
   */
  kafka?: { brokers: string[]; topic: string; partitions?: number } | null
  /** Also deliver events as Standard Webhooks. */
  webhook?: { url: string; secret: string } | null
  logger?: Logger
}

export interface CohortSandbox {
  readonly url: string
  readonly app: FastifyInstance
  readonly model: CohortModel
  start(): Promise<string>
  stop(): Promise<void>
  /** Resolves when queued webhook deliveries have ended. */
  drainWebhooks(): Promise<void>
}

export function createCohortSandbox(options: CohortSandboxOptions = {}): CohortSandbox {
  const logger = (options.logger ?? createLogger({ level: 'warn' })).child({ component: 'cohort-sandbox' })
  const model = createCohortModel()
  const faults = createFaultBook()
  const events = createEventSink({ logger, kafka: options.kafka ?? null, webhook: options.webhook ?? null })
  let calls = { total: 0, byEndpoint: {} as Record<string, number> }

  const app = Fastify({ loggerInstance: logger as FastifyBaseLogger, bodyLimit: 16 * 1024 * 1024, logController: new LogController({ disableRequestLogging: true }) })
  app.addHook('onRequest', async (request) => {
    if (request.url.startsWith('/__sandbox')) return
    const endpoint = `${request.method} ${request.routeOptions.url ?? request.url.split('?')[0]}`
    calls.total++
    calls.byEndpoint[endpoint] = (calls.byEndpoint[endpoint] ?? 0) + 1
  })
  app.setErrorHandler((err: Error & { statusCode?: number }, request, reply) => {
    if (err instanceof CohortRefusal) return sendRefusal(reply, err.code, err.message)
    if (err.statusCode && err.statusCode < 500) return sendRefusal(reply, 'request.invalid', err.message)
    request.log.error({ err }, 'cohort sandbox failed')
    return reply.code(500).send({ code: 'internal', message: err.message })
  })
  registerInternalApi(app, { model, events, faults, token: options.token ?? COHORT_SANDBOX_TOKEN })
  registerAdminApi(app, {
    model,
    events,
    faults,
    calls: () => calls,
    resetCalls: () => {
      calls = { total: 0, byEndpoint: {} }
    },
  })

  let url = ''
  return {
    get url() {
      return url
    },
    app,
    model,
    async start() {
      await events.start()
      try {
        url = await app.listen({ port: options.port ?? 8082, host: options.host ?? '127.0.0.1' })
      } catch (err) {
        await events.stop()
        throw err
      }
      logger.info({ url }, 'Cohort stand-in listening')
      return url
    },
    async stop() {
      await app.close()
      await events.stop()
    },
    drainWebhooks: () => events.drainWebhooks(),
  }
}
