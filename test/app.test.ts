/**
 * The HTTP skeleton through buildApp with the real SQLite store and the real broker:
 * health, readiness naming the failing part, metrics, JSON errors, security headers.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { z } from 'zod'
import { buildApp } from '../src/app.ts'
import { createComponent } from '../src/component.ts'
import { AppError } from '../src/errors.ts'
import { createKafkaClient } from '../src/kafka/index.ts'
import { createServices } from '../src/services.ts'
import { createLogSink, kafkaBrokers, randomName, testConfig } from './helpers/index.ts'

async function makeApp(t: Test, options: { brokers?: string[]; metricsPort?: string } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'bridge-app-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const config = testConfig({ DATABASE_URL: `sqlite:${join(dir, 'bridge.db')}`, ...(options.metricsPort ? { METRICS_PORT: options.metricsPort } : {}) })
  const sink = createLogSink('info')
  const topic = randomName('test.app')
  const kafka = createKafkaClient({ brokers: options.brokers ?? kafkaBrokers, clientId: 'test-app', topics: [{ topic, numPartitions: 1 }], logger: sink.logger })
  const services = createServices(config, { logger: sink.logger, kafka })
  const { store } = services
  await store.migrate()
  const events: string[] = []
  const component = createComponent('recorder', {
    start: async () => {
      events.push('start')
    },
    stop: async () => {
      events.push('stop')
    },
  })
  const app = await buildApp(services, { components: [component] })
  t.teardown(() => app.close())
  return { app, sink, events, store }
}

t.test('healthz, readyz and metrics with the store and Kafka up', async (t) => {
  const { app, events } = await makeApp(t)
  await app.ready()
  t.same(events, ['start'], 'components start when the app is ready')

  const health = await app.inject('/healthz')
  t.equal(health.statusCode, 200)
  t.same(health.json(), { status: 'ok' })

  const ready = await app.inject('/readyz')
  t.equal(ready.statusCode, 200, ready.body)
  t.same(ready.json(), { status: 'ready', checks: { store: { ok: true }, kafka: { ok: true }, consumers: { ok: true } } })

  const metrics = await app.inject('/metrics')
  t.equal(metrics.statusCode, 200)
  t.match(metrics.headers['content-type'], /text\/plain/)
  t.match(metrics.body, /process_cpu_user_seconds_total/)
  t.match(metrics.body, /nodejs_eventloop_lag_seconds/)

  await app.close()
  t.same(events, ['start', 'stop'], 'components stop when the app closes')
})

t.test('readyz is 503 and names Kafka when the broker does not answer', async (t) => {
  const { app } = await makeApp(t, { brokers: ['127.0.0.1:1'] })
  // Not app.ready(): starting would wait for Kafka. Routes answer without it.
  const ready = await app.inject('/readyz')
  t.equal(ready.statusCode, 503)
  const body = ready.json()
  t.same(body.failing, ['kafka'])
  t.equal(body.checks.store.ok, true)
  t.same(body.checks.kafka, { ok: false, code: 'kafka.unavailable' }, 'the code only: no driver message, no address')
  t.same(body.error, { code: 'unavailable', message: 'not ready: kafka' })
  t.notMatch(ready.body, /127\.0\.0\.1|ECONNREFUSED|ping/, 'nothing of the raw failure reaches the caller')
})

t.test('readyz names the store when it fails', async (t) => {
  const { app, store } = await makeApp(t)
  await app.ready()
  await store.close()
  const ready = await app.inject('/readyz')
  t.equal(ready.statusCode, 503)
  t.same(ready.json().failing, ['store'])
  t.same(ready.json().checks.store, { ok: false, code: 'store.unavailable' })
})

t.test('a component that fails to start stops the ones started before it, and the services', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bridge-app-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const config = testConfig({ DATABASE_URL: `sqlite:${join(dir, 'bridge.db')}` })
  const sink = createLogSink('silent')
  const kafka = createKafkaClient({ brokers: kafkaBrokers, clientId: 'test-app', topics: [], logger: sink.logger })
  const services = createServices(config, { logger: sink.logger, kafka })
  await services.store.migrate()
  const order: string[] = []
  const part = (name: string, fail = false) => createComponent(name, {
    start: async () => {
      if (fail) throw new AppError('unavailable', `${name} cannot start`)
      order.push(`start ${name}`)
    },
    stop: async () => {
      order.push(`stop ${name}`)
    },
  })
  // A factory gets the services: an engine is made from them, not wired inside buildApp.
  let given: unknown
  const app = await buildApp(services, { components: [part('a'), (s) => { given = s; return part('b', true) }] })
  t.teardown(() => app.close())
  await t.rejects(async () => {
    await app.ready()
  }, /b cannot start/)
  t.equal(given, services, 'the factory got the services')
  t.same(order, ['start a', 'stop b', 'stop a'])
  t.notOk(kafka.isConnected(), 'Kafka was released too')
  await t.rejects(services.store.ping(), 'the store was closed')
})

t.test('errors are JSON of the documented shape, with no stack and no secret', async (t) => {
  const { app, sink } = await makeApp(t)
  app.get('/boom', async () => {
    throw new Error('database password=hunter2 leaked?')
  })
  app.get('/refused', async () => {
    throw new AppError('conflict', 'already running', { field: 'runId' })
  })
  app.post('/validated', { schema: { body: z.object({ dryRun: z.boolean() }) } }, async () => ({ ok: true }))

  const missing = await app.inject('/nope')
  t.equal(missing.statusCode, 404)
  t.same(missing.json(), { error: { code: 'not-found', message: 'no route GET /nope' } })

  const boom = await app.inject('/boom')
  t.equal(boom.statusCode, 500)
  t.same(boom.json(), { error: { code: 'internal', message: 'internal error' } })
  t.notMatch(boom.body, /hunter2|at .*\.ts/)
  t.notOk(sink.text().includes('hunter2'), 'the log keeps the error but not the secret')

  const refused = await app.inject('/refused')
  t.equal(refused.statusCode, 409)
  t.same(refused.json(), { error: { code: 'conflict', message: 'already running', field: 'runId' } })

  const invalid = await app.inject({ method: 'POST', url: '/validated', payload: { dryRun: 'maybe' } })
  t.equal(invalid.statusCode, 400)
  t.match(invalid.json(), { error: { code: 'request.invalid', field: 'dryRun' } })

  const badJson = await app.inject({ method: 'POST', url: '/validated', headers: { 'content-type': 'application/json' }, payload: '{"dryRun":' })
  t.equal(badJson.statusCode, 400)
  t.equal(badJson.json().error.code, 'request.invalid')
})

t.test('security headers are set', async (t) => {
  const { app } = await makeApp(t)
  const res = await app.inject('/healthz')
  t.equal(res.headers['x-content-type-options'], 'nosniff')
  t.equal(res.headers['x-frame-options'], 'SAMEORIGIN')
  t.ok(res.headers['strict-transport-security'])
  t.ok(res.headers['content-security-policy'])
  t.notOk(res.headers['x-powered-by'])
})

t.test('with METRICS_PORT set, /metrics is not on the main listener', async (t) => {
  const { app } = await makeApp(t, { metricsPort: '0' })
  const res = await app.inject('/metrics')
  t.equal(res.statusCode, 404)
})
