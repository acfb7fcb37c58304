/**
 * The Cohort client against the Cohort stand-in over real HTTP: chunking, paging, per-item
 * batch results, the property cache, and every fault kind (retried or not, as it should be).
 */
import t, { type Test } from 'tap'
import { createCohortClient, type CohortClientOptions } from '../../src/cohort/index.ts'
import { Secret } from '../../src/config.ts'
import { AppError } from '../../src/errors.ts'
import { createCohortSandbox, type CohortSandbox } from '../../sandbox/cohort/index.ts'
import { createLogSink, randomName, waitFor } from '../helpers/index.ts'

async function setup(t: Test, clientOptions: Partial<CohortClientOptions> = {}) {
  const sandbox = createCohortSandbox({ port: 0, kafka: null })
  const url = await sandbox.start()
  t.teardown(() => sandbox.stop())
  const merchantId = randomName('m')
  await admin(sandbox, 'POST', '/__sandbox/merchants', { id: merchantId })
  const sink = createLogSink('warn')
  const client = createCohortClient({ baseUrl: url, token: new Secret('sandbox-cohort-token'), logger: sink.logger, retry: { minDelayMs: 5, maxDelayMs: 50 }, ...clientOptions })
  return { sandbox, client, merchantId, sink }
}

async function admin(sandbox: CohortSandbox, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${sandbox.url}${path}`, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) })
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`)
  return res.json()
}

async function stats(sandbox: CohortSandbox): Promise<{ total: number; byEndpoint: Record<string, number> }> {
  return (await admin(sandbox, 'GET', '/__sandbox/stats')).calls
}

const fault = (sandbox: CohortSandbox, f: Record<string, unknown>) => admin(sandbox, 'POST', '/__sandbox/faults', f)

t.test('lookups match trimmed, case-insensitive emails and are sent in chunks of 1000', async (t) => {
  const { sandbox, client, merchantId } = await setup(t)
  const users = Array.from({ length: 1500 }, (_, i) => ({ email: `user${i}@example.com` }))
  await admin(sandbox, 'POST', `/__sandbox/merchants/${merchantId}/users`, { users, events: false })
  const emails = users.map((u, i) => (i % 2 ? `  ${u.email.toUpperCase()} ` : u.email))
  const found = await client.lookupUsers(merchantId, [...emails, 'nobody@example.com'])
  t.equal(found.length, 1500)
  t.equal((await stats(sandbox)).byEndpoint['POST /internal/merchants/:m/users/lookup'], 2)
  t.same(await client.lookupUsers(merchantId, []), [])
})

t.test('batch create/update: per-item results in order, source salesforce, chunks of 500', async (t) => {
  const { sandbox, client, merchantId } = await setup(t)
  await client.ensureProperty(merchantId, { key: 'points', name: 'Points', type: 'number' })
  const [ada] = await client.batchUsers(merchantId, [{ op: 'create', email: 'ada@example.com', properties: { points: 1 } }])
  t.ok(ada?.ok)
  const adaId = ada?.ok ? ada.user.id : ''
  const results = await client.batchUsers(merchantId, [
    { op: 'create', email: 'ADA@example.com ', properties: {} },
    { op: 'update', userId: adaId, properties: { points: 5 } },
    { op: 'update', userId: adaId, properties: { points: 'many' } },
    { op: 'update', userId: adaId, properties: { tier: 'gold' } },
    { op: 'update', userId: 'u_missing', properties: { points: 1 } },
    { op: 'create', email: 'not-an-email', properties: {} },
    { op: 'create', email: 'grace@example.com', properties: { points: null } },
  ])
  t.same(results.map((r) => (r.ok ? 'ok' : r.code)), ['user.already-exists', 'ok', 'property.invalid-value', 'property.unknown', 'user.not-found', 'user.invalid-email', 'ok'])
  const updated = results[1]
  t.equal(updated?.ok && updated.user.properties.points, 5)
  t.equal(updated?.ok && updated.user.version, 2)

  const many = Array.from({ length: 1200 }, (_, i) => ({ op: 'create' as const, email: `bulk${i}@example.com`, properties: { points: i } }))
  const bulk = await client.batchUsers(merchantId, many)
  t.equal(bulk.length, 1200)
  t.ok(bulk.every((r) => r.ok))
  t.equal((await stats(sandbox)).byEndpoint['POST /internal/merchants/:m/users/batch'], 2 + 3, '1200 operations in 3 calls')
})

t.test('listUsers walks every page; getUser answers null for an unknown user', async (t) => {
  const { sandbox, client, merchantId } = await setup(t)
  const users = Array.from({ length: 2500 }, (_, i) => ({ email: `p${i}@example.com` }))
  const { ids } = await admin(sandbox, 'POST', `/__sandbox/merchants/${merchantId}/users`, { users, events: false })
  await admin(sandbox, 'DELETE', `/__sandbox/merchants/${merchantId}/users/${ids[1000]}`)
  const seen: string[] = []
  for await (const user of client.listUsers(merchantId)) seen.push(user.id)
  t.equal(seen.length, 2499)
  t.equal(new Set(seen).size, 2499, 'no user twice')
  t.notOk(seen.includes(ids[1000]), 'deleted user skipped')
  t.equal((await stats(sandbox)).byEndpoint['GET /internal/merchants/:m/users'], 3)

  t.equal((await client.getUser(merchantId, ids[0]))?.email, 'p0@example.com')
  t.equal(await client.getUser(merchantId, 'u_nobody'), null)
  await t.rejects(client.getUser(randomName('unknown-merchant'), ids[0]), { code: 'cohort.not-found', message: /merchant\.not-found/ })
})

t.test('listUsersPage: one page at a time from a cursor, resumable', async (t) => {
  const { sandbox, client, merchantId } = await setup(t)
  const { ids } = await admin(sandbox, 'POST', `/__sandbox/merchants/${merchantId}/users`, { users: Array.from({ length: 450 }, (_, i) => ({ email: `q${i}@example.com` })), events: false })
  const first = await client.listUsersPage(merchantId, null, { pageSize: 200 })
  t.same(first.users.map((u) => u.id), ids.slice(0, 200))
  t.type(first.nextCursor, 'string')
  // A cursor kept (as a run's checkpoint) gives the same next page again.
  const second = await client.listUsersPage(merchantId, first.nextCursor, { pageSize: 200 })
  t.same((await client.listUsersPage(merchantId, first.nextCursor, { pageSize: 200 })).users.map((u) => u.id), second.users.map((u) => u.id))
  const third = await client.listUsersPage(merchantId, second.nextCursor, { pageSize: 200 })
  t.same([...second.users, ...third.users].map((u) => u.id), ids.slice(200))
  t.equal(third.nextCursor, null, 'the last page has no next cursor')
})

t.test('properties: created once and cached, reused when compatible, conflict when not', async (t) => {
  const { sandbox, client, merchantId } = await setup(t)
  const tier = { key: 'loyalty_tier', name: 'Loyalty tier', type: 'text' as const }
  t.same(await client.ensureProperty(merchantId, tier), tier)
  t.same(await client.ensureProperty(merchantId, tier), tier)
  t.same(await client.listProperties(merchantId), [tier])
  let calls = await stats(sandbox)
  t.equal(calls.byEndpoint['POST /internal/merchants/:m/user-properties'], 1, 'created once')
  t.equal(calls.byEndpoint['GET /internal/merchants/:m/user-properties'], 1, 'listed once, then cached')

  await t.rejects(client.ensureProperty(merchantId, { ...tier, type: 'number' }), { code: 'cohort.property-conflict', field: 'loyalty_tier' })

  // Created by someone else after our cache was filled: the 417 leads to a re-read.
  await admin(sandbox, 'PATCH', `/__sandbox/merchants/${merchantId}/users/${(await admin(sandbox, 'POST', `/__sandbox/merchants/${merchantId}/users`, { users: [{ email: 'x@example.com' }], events: false })).ids[0]}`, { properties: { nickname: 'x' } })
  t.same(await client.ensureProperty(merchantId, { key: 'nickname', name: 'Nickname', type: 'text' }), { key: 'nickname', name: 'nickname', type: 'text' })
  calls = await stats(sandbox)
  t.equal(calls.byEndpoint['GET /internal/merchants/:m/user-properties'], 2)

  // Made in Cohort after the cache was filled: the cached list misses it, a fresh one has it.
  await admin(sandbox, 'PATCH', `/__sandbox/merchants/${merchantId}/users/${(await admin(sandbox, 'POST', `/__sandbox/merchants/${merchantId}/users`, { users: [{ email: 'y@example.com' }], events: false })).ids[0]}`, { properties: { points_new: 'x' } })
  t.notOk((await client.listProperties(merchantId)).some((p) => p.key === 'points_new'), 'the cached list is the cache')
  t.ok((await client.listProperties(merchantId, { fresh: true })).some((p) => p.key === 'points_new'), 'fresh reads Cohort again')
  t.ok((await client.listProperties(merchantId)).some((p) => p.key === 'points_new'), 'and refills the cache')
})

t.test('5xx and network-level faults are retried until they pass', async (t) => {
  const { sandbox, client, merchantId } = await setup(t)
  await fault(sandbox, { kind: 'http-500', count: 2 })
  await fault(sandbox, { kind: 'http-503', count: 1 })
  t.same(await client.lookupUsers(merchantId, ['a@example.com']), [])
  t.equal((await stats(sandbox)).total, 4, 'three failures, then success')
})

t.test('429 honours Retry-After', async (t) => {
  const { sandbox, client, merchantId } = await setup(t)
  await fault(sandbox, { kind: 'rate-limit', count: 1, retryAfterSeconds: 1, match: '/users/lookup' })
  const started = Date.now()
  await client.lookupUsers(merchantId, ['a@example.com'])
  const waited = Date.now() - started
  t.ok(waited >= 1000, `waited ${waited} ms`)
  t.equal((await stats(sandbox)).total, 2)
})

t.test('4xx and 417 are never retried; errors carry the code and the cause', async (t) => {
  const { sandbox, client, merchantId } = await setup(t, { token: new Secret('wrong-token') })
  await t.rejects(client.lookupUsers(merchantId, ['a@example.com']), { code: 'cohort.unauthorized', retriable: false })
  t.equal((await stats(sandbox)).total, 1)

  const good = createCohortClient({ baseUrl: sandbox.url, token: new Secret('sandbox-cohort-token'), logger: createLogSink('silent').logger })
  const tooMany = Array.from({ length: 1001 }, (_, i) => `${i}@example.com`)
  const err = await good.ensureProperty(merchantId, { key: 'Bad Key', name: 'x', type: 'text' }).catch((e: unknown) => e)
  t.ok(err instanceof AppError)
  t.equal((err as AppError).code, 'cohort.rejected')
  t.same((err as AppError).cause, { code: 'property.invalid-definition', message: (err as AppError).message.split('refused: property.invalid-definition: ')[1] })
  // The client chunks lookups itself; a raw call over the limit shows the 417 shape.
  const raw = await fetch(`${sandbox.url}/internal/merchants/${merchantId}/users/lookup`, { method: 'POST', headers: { authorization: 'Bearer sandbox-cohort-token', 'content-type': 'application/json' }, body: JSON.stringify({ emails: tooMany }) })
  t.equal(raw.status, 417)
  t.match(await raw.json(), { code: 'request.invalid', message: /at most 1000/ })
})

t.test('a slow answer times out and is retried; retries run out with the cause kept', async (t) => {
  const { sandbox, client, merchantId } = await setup(t, { timeoutMs: 200 })
  await fault(sandbox, { kind: 'latency', count: 1, latencyMs: 1000 })
  t.same(await client.lookupUsers(merchantId, ['a@example.com']), [])

  await fault(sandbox, { kind: 'http-503', count: 100 })
  const limited = createCohortClient({ baseUrl: sandbox.url, token: new Secret('sandbox-cohort-token'), logger: createLogSink('silent').logger, retry: { retries: 2, minDelayMs: 1, maxDelayMs: 5 } })
  const err = (await limited.lookupUsers(merchantId, ['a@example.com']).catch((e: unknown) => e)) as AppError
  t.equal(err.code, 'cohort.unavailable')
  t.equal(err.retriable, true)
  t.same(err.cause, { code: 'unavailable', message: 'injected fault' })
})

t.test('an abort signal ends a call and its retries at once, with code aborted', async (t) => {
  const { sandbox, client, merchantId, sink } = await setup(t, { retry: { retries: 50, minDelayMs: 1000, maxDelayMs: 1000 } })
  // Mid-request: a slow answer, aborted once the stand-in has the request (not after a fixed
  // delay, which on a loaded machine may land before the request is sent).
  await fault(sandbox, { kind: 'latency', count: 1, latencyMs: 5000 })
  const slow = new AbortController()
  const before = (await stats(sandbox)).total
  const started = Date.now()
  const lookup = client.lookupUsers(merchantId, ['a@example.com'], { signal: slow.signal })
  await waitFor(async () => (await stats(sandbox)).total > before, 4_000, 'the slow request reached the stand-in')
  slow.abort()
  await t.rejects(lookup, { code: 'aborted', retriable: false })
  t.ok(Date.now() - started < 4500, 'did not wait for the slow answer')

  // Between retries: a call refused with Retry-After 30 s, aborted once it sleeps before its
  // next attempt (the retry warning is logged just before the sleep). A 503's backoff is
  // jittered down to ~0 ms at times, so the abort could land in a request instead.
  await fault(sandbox, { kind: 'rate-limit', count: 1, retryAfterSeconds: 30 })
  const backoff = new AbortController()
  const began = Date.now()
  const batch = client.batchUsers(merchantId, [{ op: 'create', email: 'x@example.com', properties: {} }], { signal: backoff.signal })
  await waitFor(() => /Cohort call failed, retrying/.test(sink.text()), 10_000, 'the call waiting for its next attempt')
  backoff.abort()
  const err = await batch.catch((e: unknown) => e)
  t.ok(Date.now() - began < 15_000, 'the backoff sleep ended with the abort, not after its 30 s')
  t.match(err, { code: 'aborted', retriable: false }, 'rejects with aborted, not the Cohort failure')
  t.match((err as AppError).cause, { name: 'AbortError' }, 'the abort kept as the cause')
  t.equal((await stats(sandbox)).byEndpoint['POST /internal/merchants/:m/users/batch'], 1, 'no attempt after the abort')
  const already = new AbortController()
  already.abort()
  const calls = (await stats(sandbox)).total
  await t.rejects(client.getUser(merchantId, 'u_1', { signal: already.signal }), { code: 'aborted' }, 'an aborted signal makes no call')
  t.equal((await stats(sandbox)).total, calls, 'no call made')
})

t.test('a response that breaks the contract is an invalid-response error, not retried', async (t) => {
  const { sandbox, client, merchantId } = await setup(t)
  await fault(sandbox, { kind: 'malformed', count: 1 })
  await t.rejects(client.lookupUsers(merchantId, ['a@example.com']), { code: 'cohort.invalid-response' })
  t.equal((await stats(sandbox)).total, 1)
})

t.test('connections are kept alive between calls', async (t) => {
  const { sandbox, client, merchantId } = await setup(t)
  let connections = 0
  sandbox.app.server.on('connection', () => connections++)
  for (let i = 0; i < 10; i++) await client.lookupUsers(merchantId, [`k${i}@example.com`])
  t.equal(connections, 1, `10 calls over ${connections} connection(s)`)
})

t.test('the service token never reaches the log', async (t) => {
  const { sandbox, merchantId } = await setup(t)
  const sink = createLogSink('trace')
  const client = createCohortClient({ baseUrl: sandbox.url, token: new Secret('sandbox-cohort-token'), logger: sink.logger, retry: { minDelayMs: 1 } })
  await fault(sandbox, { kind: 'http-503', count: 1 })
  await client.lookupUsers(merchantId, ['a@example.com'])
  t.match(sink.text(), /Cohort call failed, retrying/)
  t.notMatch(sink.text(), /sandbox-cohort-token/)
})
