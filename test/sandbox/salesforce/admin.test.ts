/**
 * Admin API, faults and the change feed of the Salesforce stand-in: records as the UI user,
 * org 2, reset, stats, injected REST faults, and who made each change.
 */
import t from 'tap'
import jsforce from 'jsforce'
import type { ChangeEvent } from '../../../sandbox/salesforce/index.ts'
import { connect, startSandbox, type Tokens } from './login.ts'

const VERSION = '62.0'

async function admin(url: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${url}/__sandbox${path}`, {
    method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined,
  })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

async function rest(tokens: Tokens, method: string, path: string, body?: unknown) {
  const res = await fetch(`${tokens.instance_url}/services/data/v${VERSION}${path}`, {
    method, headers: { authorization: `Bearer ${tokens.access_token}`, 'content-type': 'application/json', 'sforce-call-options': 'client=cohort-bridge' },
    body: body ? JSON.stringify(body) : undefined,
  })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : null }
}

t.test('records as the UI user, in org 1 or org 2; reset keeps users', async (t) => {
  const sandbox = await startSandbox(t)
  const created = await admin(sandbox.url, 'POST', '/records/Contact', { records: [{ LastName: 'One' }, { LastName: 'Two', Email: 'two@example.com' }], events: false })
  t.equal(created.status, 201)
  const ids = created.body.ids as string[]
  t.equal(ids.length, 2)
  t.equal((await admin(sandbox.url, 'POST', '/records/Contact?org=2', { records: [{ LastName: 'Other' }] })).status, 201)

  const tokens = await connect(sandbox.url)
  const conn = new jsforce.Connection({ instanceUrl: tokens.instance_url, accessToken: tokens.access_token, version: VERSION })
  const identity = await conn.identity()
  const seen = await conn.query<{ LastName: string; CreatedById: string }>('SELECT LastName, CreatedById FROM Contact ORDER BY LastName')
  t.same(seen.records.map((r) => r.LastName), ['One', 'Two'], 'org 2 records stay in org 2')
  t.not(seen.records[0]!.CreatedById, identity.user_id, 'created by the UI user, not the API user')

  t.equal((await admin(sandbox.url, 'PATCH', `/records/Contact/${ids[0]}`, { fields: { Title: 'Boss' } })).status, 200)
  t.equal((await admin(sandbox.url, 'DELETE', `/records/Contact/${ids[1]}`)).status, 200)
  const page = await admin(sandbox.url, 'GET', '/records/Contact?offset=0&limit=10')
  t.equal(page.body.total, 1)
  t.match((page.body.records as Record<string, unknown>[])[0], { Id: ids[0], Title: 'Boss' })
  t.equal((await admin(sandbox.url, 'POST', `/records/Contact/${ids[1]}/undelete`)).status, 200)
  t.equal((await admin(sandbox.url, 'GET', '/records/Contact?offset=1&limit=1')).body.total, 2)
  t.equal(((await admin(sandbox.url, 'GET', '/records/Contact?offset=1&limit=1')).body.records as unknown[]).length, 1)
  t.equal((await admin(sandbox.url, 'GET', '/records/Contact?org=2')).body.total, 1)

  const invalid = await admin(sandbox.url, 'POST', '/records/Lead', { records: [{ LastName: 'NoCompany' }] })
  t.equal(invalid.status, 400)
  t.match(invalid.body, { error: { code: 'REQUIRED_FIELD_MISSING' } })

  t.same((await admin(sandbox.url, 'POST', '/reset')).body, { ok: true })
  t.equal((await admin(sandbox.url, 'GET', '/records/Contact')).body.total, 0)
  t.equal((await admin(sandbox.url, 'GET', '/records/Contact?org=2')).body.total, 0)
  t.equal((await conn.query('SELECT Id FROM Contact')).totalSize, 0, 'the token still works after reset')
})

t.test('every change names its caller, change type, fields and transaction', async (t) => {
  const sandbox = await startSandbox(t)
  const events: ChangeEvent[] = []
  t.teardown(sandbox.onChange((e) => events.push(e)))
  const tokens = await connect(sandbox.url)

  const ui = await admin(sandbox.url, 'POST', '/records/Contact', { records: [{ LastName: 'Ui' }] })
  await admin(sandbox.url, 'POST', '/records/Contact', { records: [{ LastName: 'Quiet' }], events: false })
  const api = await rest(tokens, 'POST', '/composite/sobjects', { records: [{ attributes: { type: 'Contact' }, LastName: 'A1' }, { attributes: { type: 'Contact' }, LastName: 'A2' }] })
  await rest(tokens, 'PATCH', `/sobjects/Contact/${api.body[0].id}`, { FirstName: 'Ann', Title: 'Dr' })
  await rest(tokens, 'DELETE', `/sobjects/Contact/${api.body[1].id}`)
  await admin(sandbox.url, 'POST', `/records/Contact/${api.body[1].id}/undelete`)

  t.same(events.map((e) => [e.changeType, e.entityName, e.changeOrigin, e.sequenceNumber]), [
    ['CREATE', 'Contact', '', 1],
    ['CREATE', 'Contact', 'com/salesforce/api/rest/62.0;client=cohort-bridge', 1],
    ['CREATE', 'Contact', 'com/salesforce/api/rest/62.0;client=cohort-bridge', 2],
    ['UPDATE', 'Contact', 'com/salesforce/api/rest/62.0;client=cohort-bridge', 1],
    ['DELETE', 'Contact', 'com/salesforce/api/rest/62.0;client=cohort-bridge', 1],
    ['UNDELETE', 'Contact', '', 1],
  ], 'events: false skips the feed')
  t.same(events[0]!.recordIds, (ui.body.ids as string[]))
  t.equal(events[0]!.caller.kind, 'ui')
  t.equal(events[0]!.caller.user.username, 'admin@example.com')
  t.equal(events[1]!.caller.user.username, 'integration@example.com')
  t.equal(events[1]!.caller.client, 'cohort-bridge')
  t.equal(events[1]!.transactionKey, events[2]!.transactionKey, 'one transaction per request')
  t.not(events[1]!.transactionKey, events[3]!.transactionKey)
  t.same(events[3]!.changedFields, ['Name.FirstName', 'Title', 'LastModifiedDate'])
  t.match(events[3]!.values, { FirstName: 'Ann', Title: 'Dr' })
  t.match(events[1]!.values, { LastName: 'A1' })
  t.equal(events[1]!.commitUser, events[1]!.caller.user.id)
})

t.test('faults: 503, REQUEST_LIMIT_EXCEEDED, UNABLE_TO_LOCK_ROW, latency, match, revoke', async (t) => {
  const sandbox = await startSandbox(t)
  const tokens = await connect(sandbox.url)

  const bad = await admin(sandbox.url, 'POST', '/faults', { kind: 'nope' })
  t.equal(bad.status, 400)

  await admin(sandbox.url, 'POST', '/faults', { kind: 'http-503', count: 2, match: '/query' })
  const q = `/query?q=${encodeURIComponent('SELECT Id FROM Contact')}`
  t.equal((await rest(tokens, 'GET', '/sobjects')).status, 200, 'other paths unaffected')
  t.same(await rest(tokens, 'GET', q), { status: 503, body: [{ message: 'Server Unavailable', errorCode: 'SERVER_UNAVAILABLE' }] })
  t.equal((await rest(tokens, 'GET', q)).status, 503)
  t.equal((await rest(tokens, 'GET', q)).status, 200, 'count is used up')

  await admin(sandbox.url, 'POST', '/faults', { kind: 'request-limit-exceeded', match: '/^GET .*\\/limits$/' })
  t.same(await rest(tokens, 'GET', '/limits'), { status: 403, body: [{ message: 'TotalRequests Limit exceeded.', errorCode: 'REQUEST_LIMIT_EXCEEDED' }] })

  await admin(sandbox.url, 'POST', '/faults', { kind: 'unable-to-lock-row', match: 'PATCH ', records: 1 })
  const created = await rest(tokens, 'POST', '/composite/sobjects', { records: [{ attributes: { type: 'Contact' }, LastName: 'A' }, { attributes: { type: 'Contact' }, LastName: 'B' }] })
  t.equal(created.body.length, 2, 'POST not matched')
  const updated = await rest(tokens, 'PATCH', '/composite/sobjects', { records: created.body.map((r: { id: string }) => ({ attributes: { type: 'Contact' }, id: r.id, Title: 'x' })) })
  t.same(updated.body, [
    { success: false, errors: [{ statusCode: 'UNABLE_TO_LOCK_ROW', message: 'unable to obtain exclusive access to this record or 1 records', fields: [] }] },
    { id: created.body[1].id, success: true, errors: [] },
  ])
  await admin(sandbox.url, 'POST', '/faults', { kind: 'unable-to-lock-row' })
  const single = await rest(tokens, 'PATCH', `/sobjects/Contact/${created.body[0].id}`, { Title: 'y' })
  t.same(single, { status: 400, body: [{ message: 'unable to obtain exclusive access to this record or 1 records', errorCode: 'UNABLE_TO_LOCK_ROW', fields: [] }] })

  await admin(sandbox.url, 'POST', '/faults', { kind: 'latency', latencyMs: 150 })
  const started = performance.now()
  t.equal((await rest(tokens, 'GET', '/sobjects')).status, 200)
  t.ok(performance.now() - started >= 140, 'the call was delayed')

  const pending = await admin(sandbox.url, 'GET', '/faults')
  t.same(pending.body, { faults: [] })

  const revoked = await admin(sandbox.url, 'POST', '/faults', { kind: 'revoke-refresh-token', username: 'integration@example.com' })
  t.match(revoked.body, { queued: false, affected: 1 })
  t.equal((await rest(tokens, 'GET', '/sobjects')).status, 401, 'its access tokens die with it')
  const refresh = await fetch(`${sandbox.url}/services/oauth2/token`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: 'sandbox-client-id', client_secret: 'sandbox-client-secret' }),
  })
  t.same(await refresh.json(), { error: 'invalid_grant', error_description: 'expired access/refresh token' })
})

t.test('logs its URL when given a logger; start and stop are idempotent', async (t) => {
  const lines: string[] = []
  const { default: pino } = await import('pino')
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) })
  const { createSalesforceSandbox } = await import('../../../sandbox/salesforce/index.ts')
  const sandbox = createSalesforceSandbox({ port: 0, logger })
  const [a, b] = await Promise.all([sandbox.start(), sandbox.start()])
  t.equal(a, b)
  t.ok(lines.some((l) => (JSON.parse(l) as { url?: string }).url === a), 'URL logged')
  await Promise.all([sandbox.stop(), sandbox.stop()])
  await sandbox.stop()
})
