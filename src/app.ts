/**
 * Builds the Fastify application from a validated config and its dependencies. It does not
 * listen and does not read the environment: src/server.ts does that, tests use
 * `app.inject` or port 0.
 *
 * Lifetimes: `onReady` starts Kafka, then the components in order; `preClose` stops the
 * components in reverse (intake first, in-flight work drained); `onClose` closes Kafka and
 * the store last.
 */
import { randomUUID } from 'node:crypto'
import helmet from '@fastify/helmet'
import rateLimit from '@fastify/rate-limit'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Registry } from 'prom-client'
import { createCohortClient, type CohortClient } from './cohort/index.ts'
import type { Component } from './component.ts'
import type { Config } from './config.ts'
import { createDashboardAuth, createMetricsRegistry, registerErrorHandling, registerHealthRoutes, registerMetricsRoute, registerOpenApi } from './http/index.ts'
import type { KafkaClient } from './kafka/index.ts'
import type { Logger } from './logger.ts'
import { createMerchantEvents, type MerchantEvents } from './merchant-events.ts'
import { createTokenCipher, registerOAuthRoutes } from './oauth/index.ts'
import { createDescribeService, createSalesforceConnections, type SalesforceConnections } from './salesforce/index.ts'
import { registerSettingsRoutes } from './settings/index.ts'
import type { Store } from './store/index.ts'

export interface AppDeps {
  logger: Logger
  store: Store
  kafka: KafkaClient
  /** Default: a fresh registry with process metrics. */
  metrics?: Registry
  /** Started after Kafka when the app is ready, stopped in reverse before it closes. */
  components?: Component[]
  /** Default: a client of COHORT_API_URL. */
  cohort?: CohortClient
  /** Default: made from the config, store and TOKEN_ENCRYPTION_KEYS. */
  connections?: SalesforceConnections
  events?: MerchantEvents
}

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
    store: Store
    kafka: KafkaClient
    metrics: Registry
    salesforce: SalesforceConnections
    merchantEvents: MerchantEvents
  }
}

export async function buildApp(config: Config, deps: AppDeps): Promise<FastifyInstance> {
  const metrics = deps.metrics ?? createMetricsRegistry()
  const components = deps.components ?? []
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    genReqId: (req) => {
      const given = req.headers['x-request-id']
      return typeof given === 'string' && /^[\w.-]{1,64}$/.test(given) ? given : randomUUID()
    },
    return503OnClosing: true,
    // Merchant ids of up to 128 characters fit in a path parameter.
    maxParamLength: 256,
    bodyLimit: 1024 * 1024,
  })

  app.decorate('config', config)
  app.decorate('store', deps.store)
  app.decorate('kafka', deps.kafka)
  app.decorate('metrics', metrics)

  await app.register(helmet, { global: true })
  await app.register(rateLimit, { global: false })
  registerErrorHandling(app)
  await registerOpenApi(app, '0.1.0')

  const cipher = createTokenCipher(config.tokenEncryptionKeys)
  const events = deps.events ?? createMerchantEvents(deps.logger)
  const connections = deps.connections ?? createSalesforceConnections({ config, store: deps.store, cipher, logger: deps.logger, events })
  const cohort = deps.cohort ?? createCohortClient({ baseUrl: config.cohort.apiUrl, token: config.cohort.apiToken, logger: deps.logger })
  const auth = createDashboardAuth(config.dashboard.jwtSecret)
  app.decorate('salesforce', connections)
  app.decorate('merchantEvents', events)
  registerOAuthRoutes(app, { config, store: deps.store, cipher, connections, auth, events })
  registerSettingsRoutes(app, { config, store: deps.store, cipher, connections, describe: createDescribeService(connections), cohort, auth, events })

  registerHealthRoutes(app, [
    { name: 'store', check: () => deps.store.ping() },
    {
      name: 'kafka',
      check: async () => {
        await deps.kafka.ping()
        if (!deps.kafka.isConnected()) throw new Error('the producer is still connecting')
      },
    },
  ])
  if (config.metricsPort === null) registerMetricsRoute(app, metrics)

  app.addHook('onReady', async () => {
    await deps.kafka.start()
    for (const component of components) await component.start()
  })
  app.addHook('preClose', async () => {
    for (const component of [...components].reverse()) {
      await component.stop().catch((err: unknown) => app.log.error({ err, component: component.name }, 'component stop failed'))
    }
  })
  app.addHook('onClose', async () => {
    await deps.kafka.stop()
    await deps.store.close()
  })

  return app
}
