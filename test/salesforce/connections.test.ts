/**
 * The connection factory's refresh against a scripted token endpoint on a local HTTP server
 * (the stand-in never rotates refresh tokens nor fails with 5xx): single-flight per merchant,
 * the new access token and a rotated refresh token persisted encrypted, invalid_grant →
 * needs-reauth (once, with the merchant's work told to stop), a 5xx left retriable.
 *
 * (nock is not used here: with node-fetch 2 inside jsforce, a request made after any timer
 * has run never reaches nock's interceptor on Node 24.)
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import t, { type Test } from 'tap'
import { createMerchantEvents } from '../../src/merchant-events.ts'
import { createTokenCipher } from '../../src/crypto/index.ts'
import { createSalesforceConnections, tokenContext } from '../../src/salesforce/connections.ts'
import { createLogSink, sqliteTestStore } from '../helpers/index.ts'

type Handler = (req: IncomingMessage & { body: string }, res: ServerResponse) => void

/** A local server whose answers each test scripts: the login host and the instance at once. */
async function scriptedSalesforce(t: Test) {
  const handlers: Handler[] = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => {
      const handler = handlers.shift()
      if (!handler) return res.writeHead(500).end('no scripted answer')
      handler(Object.assign(req, { body }), res)
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  const address = server.address()
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`
  return { url, handlers, json: (res: ServerResponse, status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body)) }
}

async function setup(t: Test) {
  const sf = await scriptedSalesforce(t)
  const LOGIN = sf.url
  const INSTANCE = sf.url
  const { config, store } = await sqliteTestStore(t, { SALESFORCE_LOGIN_URL: LOGIN })
  const cipher = createTokenCipher(config.tokenEncryptionKeys)
  const logs = createLogSink('info')
  const events = createMerchantEvents(logs.logger)
  const stopped: string[] = []
  events.on('needs-reauth', (m) => void stopped.push(m))
  const connections = createSalesforceConnections({ config, store, cipher, logger: logs.logger, events })
  const now = new Date()
  await store.saveConnection({
    merchantId: 'm_1', state: 'connected', environment: 'production', orgId: '00D000000000001', userId: '005000000000001', username: 'api@acme.com',
    instanceUrl: INSTANCE, accessTokenEnc: cipher.encrypt('old-access', tokenContext('m_1', 'access')), refreshTokenEnc: cipher.encrypt('refresh-1', tokenContext('m_1', 'refresh')),
    tokenKeyId: cipher.currentKeyId, connectedAt: now, updatedAt: now,
  })
  const tokens = async () => {
    const c = await store.getConnection('m_1')
    return { state: c!.state, access: cipher.decrypt(c!.accessTokenEnc!, tokenContext('m_1', 'access')), refresh: cipher.decrypt(c!.refreshTokenEnc!, tokenContext('m_1', 'refresh')) }
  }
  return { connections, store, tokens, stopped, logs, sf }
}


t.test('concurrent refreshes share one token request; a rotated refresh token is kept', async (t) => {
  const { connections, tokens, sf } = await setup(t)
  let posts = 0
  const forms: URLSearchParams[] = []
  sf.handlers.push((req, res) => {
    posts++
    forms.push(new URLSearchParams(req.body))
    setTimeout(() => sf.json(res, 200, { access_token: 'new-access', refresh_token: 'refresh-2', instance_url: sf.url, id: `${sf.url}/id/00D/005`, token_type: 'Bearer', issued_at: '1', signature: 'x' }), 50)
  })
  const results = await Promise.all([connections.refresh('m_1'), connections.refresh('m_1'), connections.refresh('m_1')])
  t.same(results, ['new-access', 'new-access', 'new-access'])
  t.equal(posts, 1)
  t.match(Object.fromEntries(forms[0]!), { grant_type: 'refresh_token', refresh_token: 'refresh-1', client_id: 'sandbox-client-id', client_secret: 'sandbox-client-secret' })
  t.same(await tokens(), { state: 'connected', access: 'new-access', refresh: 'refresh-2' })
})

t.test('a 401 on a call refreshes and replays it, with the pinned version and Sforce-Call-Options', async (t) => {
  const { connections, tokens, sf } = await setup(t)
  const seen: { url?: string; auth?: string; options?: string }[] = []
  const record = (req: IncomingMessage) => seen.push({ url: req.url, auth: req.headers.authorization, options: req.headers['sforce-call-options'] as string })
  sf.handlers.push(
    (req, res) => (record(req), sf.json(res, 401, [{ message: 'Session expired or invalid', errorCode: 'INVALID_SESSION_ID' }])),
    (_req, res) => sf.json(res, 200, { access_token: 'fresh', instance_url: sf.url, id: `${sf.url}/id/00D/005`, token_type: 'Bearer', issued_at: '1', signature: 'x' }),
    (req, res) => (record(req), sf.json(res, 200, { encoding: 'UTF-8', maxBatchSize: 200, sobjects: [] })),
  )
  const conn = await connections.get('m_1')
  const result = await conn.describeGlobal()
  t.same(result.sobjects, [])
  t.same(seen.map((s) => s.auth), ['Bearer old-access', 'Bearer fresh'])
  t.same(seen.map((s) => s.url), ['/services/data/v62.0/sobjects', '/services/data/v62.0/sobjects'], 'the pinned API version')
  t.ok(seen.every((s) => s.options === 'client=cohort-bridge'))
  t.same(await tokens(), { state: 'connected', access: 'fresh', refresh: 'refresh-1' }, 'no rotation: the refresh token stays')
})

t.test('invalid_grant: needs-reauth, the work is told to stop, no more token requests', async (t) => {
  const { connections, tokens, stopped, store, sf } = await setup(t)
  sf.handlers.push((_req, res) => sf.json(res, 400, { error: 'invalid_grant', error_description: 'expired access/refresh token' }))
  await t.rejects(connections.refresh('m_1'), { code: 'salesforce.needs-reauth' })
  t.equal((await tokens()).state, 'needs-reauth')
  t.same(stopped, ['m_1'])
  await t.rejects(connections.refresh('m_1'), { code: 'salesforce.needs-reauth' }, 'refused locally')
  await t.rejects(connections.get('m_1'), { code: 'salesforce.needs-reauth' })
  t.equal(sf.handlers.length, 0, 'exactly one token request was made')
  const audit = await store.listAudit('m_1')
  t.match(audit.data[0], { action: 'connection.needs-reauth', actor: 'system' })
})

t.test('a 5xx from the token endpoint is retriable and changes nothing', async (t) => {
  const { connections, tokens, stopped, sf } = await setup(t)
  sf.handlers.push((_req, res) => res.writeHead(503).end('Service Unavailable'))
  await t.rejects(connections.refresh('m_1'), { code: 'salesforce.unavailable', retriable: true })
  t.same(await tokens(), { state: 'connected', access: 'old-access', refresh: 'refresh-1' })
  t.same(stopped, [])
})
