/**
 * POST /webhooks/cohort on the local stack, over real HTTP, real Kafka and the SQLite store:
 * a signed event is published to the Cohort events topic as received; a bad signature, a stale
 * or future timestamp and a bad body are refused; a repeated webhook-id answers 200 and
 * publishes nothing; a Kafka failure answers 503 and the redelivery publishes; no secret → 404.
 * Signed by the Cohort stand-in's own signer (not the library that verifies), and end to end by
 * the stand-in's webhook delivery.
 */
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { createCohortSandbox, signWebhook } from '../../sandbox/cohort/index.ts'
import { buildApp } from '../../src/app.ts'
import { DEV_WEBHOOK_SECRET } from '../../src/config.ts'
import { createServices } from '../../src/services.ts'
import { createLogSink, testConfig, waitFor } from '../helpers/index.ts'
import { startStack, type Stack } from '../helpers/stack.ts'
import { collect, counterValue } from '../kafka/helpers.ts'
import { contactWhere, exportStack } from './helpers.ts'

const event = (over: Record<string, unknown> = {}) => ({
  id: `evt_${randomUUID()}`,
  type: 'user.properties.updated',
  merchantId: 'm_webhook',
  userId: `u_${randomUUID().slice(0, 8)}`,
  email: 'ada@example.com',
  occurredAt: new Date().toISOString(),
  version: 3,
  properties: { points: 1200, tier: 'gold', nickname: null },
  source: 'dashboard',
  ...over,
})

interface Delivery {
  id?: string
  timestamp?: number
  secret?: string
  signature?: string
  contentType?: string
}

async function deliver(stack: Stack, body: string, options: Delivery = {}): Promise<{ status: number; body: any }> {
  const id = options.id ?? `msg_${randomUUID()}`
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000)
  const res = await fetch(`${stack.url}/webhooks/cohort`, {
    method: 'POST',
    headers: {
      'content-type': options.contentType ?? 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': options.signature ?? signWebhook(options.secret ?? DEV_WEBHOOK_SECRET, id, timestamp, body),
    },
    body,
  })
  const text = await res.text()
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text) }
}

async function started(t: Parameters<typeof startStack>[0], options: { consume?: boolean } = {}) {
  const stack = await startStack(t, { cohortEvents: false })
  const topic = collect(t, stack.services.kafka, stack.topics.cohortEvents)
  if (options.consume !== false) await topic.consumer.start()
  return { stack, topic }
}

t.test('a signed event is published as received, keyed by merchant and user; a repeated id publishes nothing', async (t) => {
  const { stack, topic } = await started(t)
  const sent = event()
  // Spacing and key order as sent: the message is the signed bytes, not a re-serialisation.
  const body = JSON.stringify(sent, null, 1)
  const id = `msg_${randomUUID()}`
  t.same(await deliver(stack, body, { id }), { status: 200, body: { status: 'published' } })
  await topic.waitForCount(1)
  t.equal(topic.received[0]!.key, `${sent.merchantId}:${sent.userId}`)
  t.equal(topic.received[0]!.value, body)

  // Redelivered later: a new timestamp and signature, the same id.
  t.same(await deliver(stack, body, { id, timestamp: Math.floor(Date.now() / 1000) - 60 }), { status: 200, body: { status: 'duplicate' } })
  // A marker published after the duplicate: once it arrives, the duplicate would have too.
  const marker = event()
  t.equal((await deliver(stack, JSON.stringify(marker))).status, 200)
  await topic.waitForCount(2)
  t.same(topic.received.map((m) => JSON.parse(m.value).id).sort(), [sent.id, marker.id].sort(), 'the repeated id was not published again')

  // Every type of §3, user.deleted without properties.
  const created = event({ type: 'user.created' })
  const deleted = event({ type: 'user.deleted' })
  delete (deleted as Record<string, unknown>).properties
  t.equal((await deliver(stack, JSON.stringify(created))).status, 200)
  t.equal((await deliver(stack, JSON.stringify(deleted))).status, 200)
  await topic.waitForCount(4)
  t.equal(topic.received.length, 4)
  t.equal(await counterValue(stack.services.metrics, 'bridge_webhook_deliveries_total'), 5)
})

t.test('bad signatures and timestamps are 401, bad bodies 400; nothing is published', async (t) => {
  const { stack, topic } = await started(t)
  const body = JSON.stringify(event())
  const now = Math.floor(Date.now() / 1000)
  const refused = (r: { status: number; body: any }, what: string) => {
    t.equal(r.status, 401, what)
    t.equal(r.body.error.code, 'auth.invalid', what)
  }
  refused(await deliver(stack, body, { secret: `whsec_${Buffer.from('another-secret-entirely').toString('base64')}` }), 'signed with another secret')
  refused(await deliver(stack, body, { signature: 'v1,AAAA' }), 'a forged signature')
  const id = `msg_${randomUUID()}`
  refused(await deliver(stack, body, { id, signature: signWebhook(DEV_WEBHOOK_SECRET, id, now, body.replace('gold', 'silver')) }), 'signed over another body')
  refused(await deliver(stack, body, { timestamp: now - 6 * 60 }), 'a timestamp 6 minutes old')
  refused(await deliver(stack, body, { timestamp: now + 6 * 60 }), 'a timestamp 6 minutes ahead')
  const missing = await fetch(`${stack.url}/webhooks/cohort`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
  t.equal(missing.status, 401, 'no signature headers')
  await missing.arrayBuffer()
  // Within the tolerance is fine.
  t.equal((await deliver(stack, body, { timestamp: now - 4 * 60 })).status, 200, 'a timestamp 4 minutes old is accepted')

  const invalid = async (raw: string, what: string, field?: string) => {
    const r = await deliver(stack, raw)
    t.equal(r.status, 400, what)
    t.equal(r.body.error.code, 'request.invalid', what)
    if (field !== undefined) t.equal(r.body.error.field, field, `${what}: field`)
  }
  await invalid('{"id": "evt_1", ', 'not JSON')
  await invalid(JSON.stringify(event({ type: 'user.renamed' })), 'an unknown type', 'type')
  await invalid(JSON.stringify(event({ version: 'seven' })), 'a version that is not a number', 'version')
  await invalid(JSON.stringify(event({ occurredAt: 'yesterday' })), 'a bad occurredAt', 'occurredAt')
  await invalid(JSON.stringify(event({ properties: { points: { nested: true } } })), 'a property value that is not a scalar', 'properties.points')
  await invalid(JSON.stringify({ ...event(), merchantId: undefined }), 'no merchantId', 'merchantId')
  await invalid('[]', 'an array')

  // A redelivery of a refused id with a good body goes through: refusals remember nothing.
  const refusedId = `msg_${randomUUID()}`
  t.equal((await deliver(stack, '{}', { id: refusedId })).status, 400)
  t.equal((await deliver(stack, body, { id: refusedId })).status, 200)

  await topic.waitForCount(2)
  // A marker after everything: once it is in, nothing refused slipped through before it.
  t.equal((await deliver(stack, JSON.stringify(event({ id: 'evt_marker' })))).status, 200)
  await waitFor(() => topic.received.some((m) => JSON.parse(m.value).id === 'evt_marker'), 30_000, 'the marker')
  t.equal(topic.received.length, 3, 'only the accepted deliveries were published')
  t.notOk(stack.logs.text().includes(DEV_WEBHOOK_SECRET.slice(6)), 'the secret is never logged')
})

t.test('Kafka unavailable: 503 and the id is not remembered, so the redelivery publishes', async (t) => {
  const { stack, topic } = await started(t, { consume: false })
  const sent = event()
  const body = JSON.stringify(sent)
  const id = `msg_${randomUUID()}`
  await stack.services.kafka.stop()
  const down = await deliver(stack, body, { id })
  t.equal(down.status, 503)
  t.equal(down.body.error.code, 'kafka.unavailable')
  t.equal(await stack.store.hasWebhookId(id), false)

  await stack.services.kafka.start()
  await waitFor(() => stack.services.kafka.isConnected(), 30_000, 'Kafka connected again')
  t.same(await deliver(stack, body, { id }), { status: 200, body: { status: 'published' } })
  await topic.consumer.start()
  await topic.waitForCount(1)
  t.equal(JSON.parse(topic.received[0]!.value).id, sent.id)
  t.equal(await stack.store.hasWebhookId(id), true)
})

t.test('the Cohort stand-in delivering its events as webhooks: each one on the topic once', async (t) => {
  const { stack, topic } = await started(t)
  const cohort = createCohortSandbox({ port: 0, kafka: null, webhook: { url: `${stack.url}/webhooks/cohort`, secret: DEV_WEBHOOK_SECRET } })
  t.teardown(() => cohort.stop())
  await cohort.start()
  const merchantId = 'm_webhook_e2e'
  const post = (path: string, method: string, payload: unknown) => fetch(`${cohort.url}${path}`, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload) }).then(async (r) => r.json() as Promise<any>)
  await post('/__sandbox/merchants', 'POST', { id: merchantId })
  const { ids } = await post(`/__sandbox/merchants/${merchantId}/users`, 'POST', { users: [{ email: 'a@example.com', properties: {} }, { email: 'b@example.com', properties: {} }] })
  const updated = await post(`/__sandbox/merchants/${merchantId}/users/${ids[0]}`, 'PATCH', { properties: { tier: 'gold' } })
  t.equal(updated.properties?.tier, 'gold', JSON.stringify(updated))
  await cohort.drainWebhooks()
  const stats = await (await fetch(`${cohort.url}/__sandbox/stats`)).json() as { webhooks: { delivered: number; failed: number } }
  t.same(stats.webhooks, { delivered: 3, failed: 0 })
  await topic.waitForCount(3)
  const events = topic.received.map((m) => JSON.parse(m.value))
  t.same(events.map((e) => e.type).sort(), ['user.created', 'user.created', 'user.properties.updated'])
  t.ok(topic.received.every((m) => m.key === `${merchantId}:${JSON.parse(m.value).userId}`))
})

t.test('no COHORT_WEBHOOK_SECRET: the route does not exist (404)', async (t) => {
  const config = { ...testConfig({ DATABASE_URL: `sqlite:${t.testdirName}/bridge.db` }), cohortWebhookSecret: null }
  t.testdir({})
  const services = createServices(config, { logger: createLogSink('silent').logger, createTopics: false })
  await services.store.migrate()
  const app = await buildApp(services)
  t.teardown(() => app.close())
  const body = JSON.stringify(event())
  const res = await app.inject({ method: 'POST', url: '/webhooks/cohort', headers: { 'content-type': 'application/json', 'webhook-id': 'msg_1', 'webhook-timestamp': String(Math.floor(Date.now() / 1000)), 'webhook-signature': signWebhook(DEV_WEBHOOK_SECRET, 'msg_1', Math.floor(Date.now() / 1000), body) }, payload: body })
  t.equal(res.statusCode, 404)
  t.equal(res.json().error.code, 'not-found')
})

t.test('a webhook event reaches Salesforce through the exporter', async (t) => {
  const { stack, merchant, contacts, users, saveExport } = await exportStack(t)
  await saveExport({ mode: 'existing', mappings: [{ property: 'points', field: 'Cohort_Points__c' }] })
  const email = `hook-${merchant.merchantId}@example.com`
  const [recordId] = await contacts.create([{ LastName: 'Hook', Email: email }], false)
  const [userId] = await users.create([{ email, properties: {} }], false)
  const sent = event({ merchantId: merchant.merchantId, userId, email, version: 5, properties: { points: 321 } })
  t.same(await deliver(stack, JSON.stringify(sent)), { status: 200, body: { status: 'published' } })
  const record = await contactWhere(stack, email, (r) => r.Cohort_Points__c === 321, 'the webhook event exported')
  t.match(record, { Id: recordId, Cohort_User_Id__c: userId })
})
