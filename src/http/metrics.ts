/** Prometheus metrics: one registry per app (tests build many), process metrics by default. */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { collectDefaultMetrics, Registry } from 'prom-client'
import type { Logger } from '../logger.ts'

export function createMetricsRegistry(): Registry {
  const registry = new Registry()
  registry.setDefaultLabels({ service: 'salesforce-bridge' })
  collectDefaultMetrics({ register: registry })
  return registry
}

export function registerMetricsRoute(app: FastifyInstance, registry: Registry): void {
  app.get('/metrics', { logLevel: 'warn' }, async (_request, reply) => {
    const text = await registry.metrics()
    return reply.type(registry.contentType).send(text)
  })
}

/** The separate listener used when METRICS_PORT is set (keep that port private). */
export function buildMetricsApp(registry: Registry, logger: Logger): FastifyInstance {
  const app = Fastify({ loggerInstance: logger.child({ component: 'metrics-http' }) as FastifyBaseLogger })
  registerMetricsRoute(app, registry)
  return app
}
