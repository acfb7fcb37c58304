/**
 * The Cohort stand-in through its edges: the internal API of contracts §4 over raw HTTP,
 * user events on the real Kafka topic read back with a plain kafkajs consumer, and webhook
 * deliveries verified with the `standardwebhooks` library.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http'
import { Kafka, logLevel } from 'kafkajs'
import { Webhook } from 'standardwebhooks'
import t, { type Test } from 'tap'
import { createCohortSandbox, type CohortSandbox } from '../../../sandbox/cohort/index.ts'
import { kafkaBrokers, randomName, waitFor } from '../../helpers/index.ts'

const TOKEN = 'sandbox-cohort-token'

async function start(t: Test, options: Parameters<typeof createCohortSandbox>[0] = {}): Promise<CohortSandbox> {
  const sandbox = createCohortSandbox({ port: 0, kafka: null, ...options })
  await sandbox.start()
  t.teardown(() => sandbox.stop())
  return sandbox
}

async function call(sandbox: CohortSandbox, method: string, path: string, body?: unknown, token = TOKEN) {
  const headers: Record<string, string> = {}
  if (token) headers.authorization = `Bearer ${token}`
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(`${sandbox.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  return { status: res.status, headers: res.headers, body: (await res.json()) as any }
}

t.test('internal API: auth, unknown merchant, per-item results, value rules, paging', async (t) => {
  const sandbox = await start(t)
  const m = randomName('m')
  await call(sandbox, 'POST', '/__sandbox/merchants', { id: m }, '')
  await call(sandbox, 'POST', '/__sandbox/merchants', { id: m }, '') // idempotent

  t.match(await call(sandbox, 'GET', `/internal/merchants/${m}/users`, undefined, 'bad'), { status: 401, body: { code: 'auth.invalid' } })
  t.match(await call(sandbox, 'GET', `/internal/merchants/nope/users`), { status: 404, body: { code: 'merchant.not-found' } })
  t.match(await call(sandbox, 'GET', `/internal/merchants/${m}/users/u_x`), { status: 404, body: { code: 'user.not-found' } })
  t.match(await call(sandbox, 'GET', `/internal/merchants/${m}/users?limit=1001`), { status: 417, body: { code: 'request.invalid' } })

  for (const [key, type] of [['points', 'number'], ['vip', 'boolean'], ['since', 'date'], ['tier', 'text']]) {
    t.equal((await call(sandbox, 'POST', `/internal/merchants/${m}/user-properties`, { key, name: key, type })).status, 201)
  }
  t.match(await call(sandbox, 'POST', `/internal/merchants/${m}/user-properties`, { key: 'tier', name: 'x', type: 'text' }), { status: 417, body: { code: 'property.already-exists' } })

  const ops = [
    { op: 'create', email: ' Ada@Example.com ', properties: { points: 10, vip: true, since: '2026-01-02', tier: 'gold' } },
    { op: 'create', email: 'ada@example.com', properties: {} },
    { op: 'create', email: 'bob@example.com', properties: { points: Number.MAX_VALUE * 0 + 1, since: 'yesterday' } },
    { op: 'create', email: 'cy@example.com', properties: { vip: 'yes' } },
    { op: 'create', email: 'dee@example.com', properties: { color: 'red' } },
    { op: 'create', email: 'eve@example.com', properties: { since: '2026-11-24T10:00:00.000Z', tier: null } },
  ]
  const batch = await call(sandbox, 'POST', `/internal/merchants/${m}/users/batch`, { source: 'salesforce', operations: ops })
  t.equal(batch.status, 200)
  t.same(batch.body.results.map((r: any) => (r.ok ? 'ok' : r.code)), ['ok', 'user.already-exists', 'property.invalid-value', 'property.invalid-value', 'property.unknown', 'ok'])
  const ada = batch.body.results[0].user
  t.match(ada, { email: 'Ada@Example.com', version: 1, properties: { points: 10, vip: true, since: '2026-01-02', tier: 'gold' } })
  t.match(await call(sandbox, 'POST', `/internal/merchants/${m}/users/batch`, { operations: Array.from({ length: 501 }, () => ops[0]) }), { status: 417, body: { message: /at most 500/ } })

  const update = await call(sandbox, 'POST', `/internal/merchants/${m}/users/batch`, { source: 'salesforce', operations: [{ op: 'update', userId: ada.id, properties: { points: 11, tier: null } }] })
  t.match(update.body.results[0].user, { version: 2, properties: { points: 11 } })
  t.notOk('tier' in update.body.results[0].user.properties, 'null clears')

  const lookup = await call(sandbox, 'POST', `/internal/merchants/${m}/users/lookup`, { emails: ['ADA@example.com', 'nobody@example.com', 'eve@example.com '] })
  t.same(lookup.body.data.map((u: any) => u.email).sort(), ['Ada@Example.com', 'eve@example.com'])

  const first = await call(sandbox, 'GET', `/internal/merchants/${m}/users?limit=1`)
  t.equal(first.body.data.length, 1)
  t.type(first.body.nextCursor, 'string')
  const second = await call(sandbox, 'GET', `/internal/merchants/${m}/users?limit=1&cursor=${first.body.nextCursor}`)
  t.equal(second.body.data.length, 1)
  t.equal(second.body.nextCursor, null)
  t.not(second.body.data[0].id, first.body.data[0].id)
})

t.test('faults: 429 with Retry-After, match by path, count', async (t) => {
  const sandbox = await start(t)
  const m = randomName('m')
  await call(sandbox, 'POST', '/__sandbox/merchants', { id: m })
  await call(sandbox, 'POST', '/__sandbox/faults', { kind: 'rate-limit', count: 2, retryAfterSeconds: 7, match: '/user-properties' })
  t.equal((await call(sandbox, 'GET', `/internal/merchants/${m}/users`)).status, 200, 'other paths unaffected')
  const limited = await call(sandbox, 'GET', `/internal/merchants/${m}/user-properties`)
  t.equal(limited.status, 429)
  t.equal(limited.headers.get('retry-after'), '7')
  t.equal((await call(sandbox, 'GET', `/internal/merchants/${m}/user-properties`)).status, 429)
  t.equal((await call(sandbox, 'GET', `/internal/merchants/${m}/user-properties`)).status, 200, 'only the next 2 calls')
  t.match(await call(sandbox, 'POST', '/__sandbox/faults', { kind: 'explode' }), { status: 417 })
})

t.test('an admin edit produces exactly one event of the documented shape on the real topic', async (t) => {
  const topic = randomName('test.cohort-events')
  const sandbox = await start(t, { kafka: { brokers: kafkaBrokers, topic, partitions: 2 } })
  const m = randomName('m')
  await call(sandbox, 'POST', '/__sandbox/merchants', { id: m })
  await call(sandbox, 'POST', `/internal/merchants/${m}/user-properties`, { key: 'points', name: 'Points', type: 'number' })
  const { body: created } = await call(sandbox, 'POST', `/__sandbox/merchants/${m}/users`, { users: [{ email: 'ada@example.com', properties: { points: 1 } }], events: false })
  const userId = created.ids[0]
  const startedAt = Date.now()
  const patched = await call(sandbox, 'PATCH', `/__sandbox/merchants/${m}/users/${userId}`, { properties: { points: 1200, tier: 'gold', points_note: null } })
  t.equal(patched.status, 200)

  const kafka = new Kafka({ clientId: 'test', brokers: kafkaBrokers, logLevel: logLevel.NOTHING })
  const consumer = kafka.consumer({ groupId: randomName('test.reader') })
  t.teardown(() => consumer.disconnect())
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const messages: { key: string; value: any; headers: IncomingHttpHeaders }[] = []
  await consumer.run({ eachMessage: async ({ message }) => void messages.push({ key: String(message.key), value: JSON.parse(String(message.value)), headers: {} }) })
  await waitFor(() => messages.length >= 1, 30_000, 'the event')
  // Nothing else arrives: the seeding above had events off.
  const admin = kafka.admin()
  await admin.connect()
  const offsets = await admin.fetchTopicOffsets(topic)
  await admin.disconnect()
  t.equal(offsets.reduce((sum, p) => sum + Number(p.high), 0), 1, 'exactly one event on the topic')

  const [event] = messages
  t.equal(event?.key, `${m}:${userId}`)
  t.same(Object.keys(event!.value).sort(), ['email', 'id', 'merchantId', 'occurredAt', 'properties', 'source', 'type', 'userId', 'version'])
  t.match(event?.value, { type: 'user.properties.updated', merchantId: m, userId, email: 'ada@example.com', version: 2, source: 'dashboard', properties: { points: 1200, tier: 'gold' } })
  t.notOk('points_note' in event!.value.properties, 'an unchanged (already empty) property is not in the event')
  t.match(event?.value.id, /^evt_/)
  t.ok(Date.parse(event?.value.occurredAt) >= startedAt - 1000)
})

t.test('webhook deliveries verify with the standardwebhooks library', async (t) => {
  const secret = `whsec_${Buffer.from('a-test-webhook-secret-of-32-byte').toString('base64')}`
  const received: { headers: IncomingHttpHeaders; body: string }[] = []
  let failFirst = true
  const receiver = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => {
      if (failFirst) {
        failFirst = false
        res.writeHead(503).end()
        return
      }
      received.push({ headers: req.headers, body })
      res.writeHead(204).end()
    })
  })
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => receiver.close(() => r())))
  const address = receiver.address()
  const port = typeof address === 'object' && address ? address.port : 0

  const sandbox = await start(t, { webhook: { url: `http://127.0.0.1:${port}/webhooks/cohort`, secret } })
  const m = randomName('m')
  await call(sandbox, 'POST', '/__sandbox/merchants', { id: m })
  const { body } = await call(sandbox, 'POST', `/__sandbox/merchants/${m}/users`, { users: [{ email: 'a@example.com' }, { email: 'b@example.com' }] })
  await call(sandbox, 'DELETE', `/__sandbox/merchants/${m}/users/${body.ids[0]}`)
  await sandbox.drainWebhooks()

  t.equal(received.length, 3, 'two creations and one deletion, the first retried after a 503')
  const verifier = new Webhook(secret)
  const events = received.map((r) => verifier.verify(r.body, { 'webhook-id': String(r.headers['webhook-id']), 'webhook-timestamp': String(r.headers['webhook-timestamp']), 'webhook-signature': String(r.headers['webhook-signature']) }) as any)
  t.same(events.map((e) => e.type), ['user.created', 'user.created', 'user.deleted'])
  t.equal(events[2].userId, body.ids[0])
  t.equal(events[2].version, 2)
  t.equal(received[0]?.headers['webhook-id'], events[0].id)
  t.throws(() => verifier.verify(received[0]!.body.replace('a@example.com', 'z@example.com'), received[0]!.headers as Record<string, string>), 'a changed body does not verify')
  t.match((await call(sandbox, 'GET', '/__sandbox/stats')).body, { events: { published: 3 }, webhooks: { delivered: 3, failed: 0 } })
})
