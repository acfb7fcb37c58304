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
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Registry } from 'prom-client'
import type { Component } from './component.ts'
import type { Config } from './config.ts'
import { registerErrorHandling } from './http/errors.ts'
import { registerHealthRoutes } from './http/health.ts'
import { createMetricsRegistry, registerMetricsRoute } from './http/metrics.ts'
import type { KafkaClient } from './kafka/index.ts'
import type { Logger } from './logger.ts'
import type { Store } from './store/index.ts'

export interface AppDeps {
  logger: Logger
  store: Store
  kafka: KafkaClient
  /** Default: a fresh registry with process metrics. */
  metrics?: Registry
  /** Started after Kafka when the app is ready, stopped in reverse before it closes. */
  components?: Component[]
}

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
    store: Store
    kafka: KafkaClient
    metrics: Registry
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
    bodyLimit: 1024 * 1024,
  })

  app.decorate('config', config)
  app.decorate('store', deps.store)
  app.decorate('kafka', deps.kafka)
  app.decorate('metrics', metrics)

  await app.register(helmet, { global: true })
  registerErrorHandling(app)

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
