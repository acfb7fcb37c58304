/**
 * Builds the Fastify application from the services (src/services.ts). It does not listen,
 * does not read the environment and builds no long-lived part itself: src/server.ts does the
 * listening, tests use `app.inject` or port 0.
 *
 * Lifetimes: `onReady` starts the services (Kafka, settings watcher), then the engines in
 * order; a failing start stops what had started. `preClose` stops the engines in reverse
 * (intake first, in-flight work drained); `onClose` stops the services and closes the store
 * last.
 */
import { randomUUID } from 'node:crypto'
import helmet from '@fastify/helmet'
import rateLimit from '@fastify/rate-limit'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { registerWebhookRoutes } from './cohort-events/index.ts'
import { startAll, stopAll, type Component } from './component.ts'
import { createDashboardAuth, registerErrorHandling, registerHealthRoutes, registerMetricsRoute, registerOpenApi, type ReadinessCheck } from './http/index.ts'
import { registerOAuthRoutes } from './oauth/index.ts'
import type { ComponentFactory, Services } from './services.ts'
import { registerSettingsRoutes } from './settings/index.ts'
import { registerErrorRoutes } from './sync-errors/index.ts'

export interface AppOptions {
  /** The engines: made from the services, started after them, stopped before them. */
  components?: (Component | ComponentFactory)[]
}

declare module 'fastify' {
  interface FastifyInstance {
    services: Services
  }
}

/** Readiness: the store answers, Kafka answers and its consumers run. */
function readinessChecks(services: Services): ReadinessCheck[] {
  const { store, kafka } = services
  return [
    { name: 'store', check: () => store.ping() },
    {
      name: 'kafka',
      check: async () => {
        await kafka.ping()
        if (!kafka.isConnected()) throw new Error('the producer is still connecting')
      },
    },
    {
      name: 'consumers',
      check: async () => {
        const waiting = kafka.health().consumers.filter((c) => c.state !== 'running')
        if (waiting.length > 0) throw new Error(`not consuming: ${waiting.map((c) => `${c.groupId} (${c.state})`).join(', ')}`)
      },
    },
  ]
}

export async function buildApp(services: Services, options: AppOptions = {}): Promise<FastifyInstance> {
  const { config, logger, metrics } = services
  const components = (options.components ?? []).map((c) => (typeof c === 'function' ? c(services) : c))
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    genReqId: (req) => {
      const given = req.headers['x-request-id']
      return typeof given === 'string' && /^[\w.-]{1,64}$/.test(given) ? given : randomUUID()
    },
    return503OnClosing: true,
    // Merchant ids of up to 128 characters fit in a path parameter.
    routerOptions: { maxParamLength: 256 },
    bodyLimit: 1024 * 1024,
  })
  app.decorate('services', services)

  await app.register(helmet, { global: true })
  await app.register(rateLimit, { global: false })
  registerErrorHandling(app)
  await registerOpenApi(app, '0.1.0')

  const auth = createDashboardAuth(config.dashboard.jwtSecret)
  registerOAuthRoutes(app, { ...services, auth })
  registerSettingsRoutes(app, { ...services, auth }, { register: (scope) => registerErrorRoutes(scope, { ...services, auth }) })
  registerWebhookRoutes(app, services)
  registerHealthRoutes(app, readinessChecks(services))
  if (config.metricsPort === null) registerMetricsRoute(app, metrics)

  app.addHook('onReady', async () => {
    await startAll([services, ...components], logger)
  })
  app.addHook('preClose', async () => {
    await stopAll(components, logger)
  })
  app.addHook('onClose', async () => {
    await services.stop()
  })

  return app
}
