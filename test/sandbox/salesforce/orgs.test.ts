/**
 * `orgs: n` (SANDBOX_SALESFORCE_ORGS standalone): org N ≥ 3 exists with the API user
 * `integration@orgN.example.com`, logs in, keeps its records apart, and is addressed with
 * `?org=N` in the admin calls and `org: N` in faults; a stand-in without it serves two orgs.
 */
import t from 'tap'
import { API_USER, connect, ORG2_USER, startSandbox } from './login.ts'
import { admin, rest } from './streaming-helpers.ts'

t.test('three orgs: logins, records and identity kept apart, ?org=3 in the admin API', async (t) => {
  const sandbox = await startSandbox(t, { orgs: 3 })
  t.same(sandbox.orgs.map((o) => [o.number, o.users.find((u) => u.role === 'api')!.username]), [
    [1, API_USER], [2, ORG2_USER], [3, 'integration@org3.example.com'],
  ], 'org 1 and 2 keep their users')
  t.equal(sandbox.orgs[2]!.uiUsername, 'admin@org3.example.com')
  t.equal(new Set(sandbox.orgs.map((o) => o.id)).size, 3, 'three org ids')
  t.ok(sandbox.orgs.every((o) => o.id.length === 18 && o.id.startsWith('00D')), '18-char org ids')

  const org3 = await connect(sandbox.url, 'integration@org3.example.com')
  const org1 = await connect(sandbox.url)
  t.ok(org3.access_token.startsWith(sandbox.orgs[2]!.id.slice(0, 15)), 'the token names its org')
  t.ok(org3.id.includes(`/id/${sandbox.orgs[2]!.id}/`), 'identity URL of org 3')

  const created = await rest(sandbox.url, org3.access_token, 'POST', '/sobjects/Contact', { LastName: 'Three' })
  t.equal(created.status, 201)
  const id = (created.body as { id: string }).id
  t.equal((await rest(sandbox.url, org1.access_token, 'GET', `/sobjects/Contact/${id}`)).status, 404, 'org 1 does not see it')
  const listed = await admin(sandbox.url, 'GET', '/records/Contact?org=3')
  t.match(listed.body, { total: 1, records: [{ Id: id, LastName: 'Three' }] })
  t.match((await admin(sandbox.url, 'GET', '/records/Contact')).body, { total: 0 })

  const seeded = await admin(sandbox.url, 'POST', '/records/Contact?org=3', { records: [{ LastName: 'Admin made' }] })
  const [seededId] = seeded.body.ids as string[]
  const read = await rest(sandbox.url, org3.access_token, 'GET', `/sobjects/Contact/${seededId}`)
  t.equal((read.body as { CreatedById: string }).CreatedById, sandbox.orgs[2]!.users.find((u) => u.role === 'ui')!.id, 'admin writes are the UI user of org 3')

  t.match(await admin(sandbox.url, 'GET', '/records/Contact?org=4'), { status: 400, body: { error: { code: 'invalid-request', message: 'org must be 1 to 3' } } })
  t.match(await admin(sandbox.url, 'POST', '/faults', { kind: 'expire-tokens', org: 4 }), { status: 400, body: { error: { code: 'invalid-request' } } })
  t.match(await admin(sandbox.url, 'POST', '/faults', { kind: 'expire-tokens', org: 3 }), { status: 201, body: { affected: 1 } })
  t.equal((await rest(sandbox.url, org3.access_token, 'GET', '/limits')).status, 401, 'org 3 token expired')
  t.equal((await rest(sandbox.url, org1.access_token, 'GET', '/limits')).status, 200, 'org 1 token lives')
})

t.test('the default is two orgs: org 3 users cannot log in', async (t) => {
  const sandbox = await startSandbox(t)
  t.equal(sandbox.orgs.length, 2)
  await t.rejects(connect(sandbox.url, 'integration@org3.example.com'), /login refused/)
  t.match(await admin(sandbox.url, 'GET', '/records/Contact?org=3'), { status: 400 })
})

t.test('orgs out of range are refused at construction', async (t) => {
  await t.rejects(startSandbox(t, { orgs: 0 }), RangeError)
  await t.rejects(startSandbox(t, { orgs: 1000 }), RangeError)
})
