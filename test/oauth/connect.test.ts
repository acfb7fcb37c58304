/**
 * Connecting a merchant through the real flow: the bridge's connect route, the Salesforce
 * stand-in's login and allow pages, the callback. Then the edges: state forged, replayed,
 * expired or for another merchant; a wrong PKCE verifier; invalid_grant on refresh; disconnect;
 * reconnecting to the same org and to org 2; token bytes at rest; key rotation.
 */
import { readFileSync, existsSync } from 'node:fs'
import pg from 'pg'
import t, { type Test } from 'tap'
import { createTokenCipher } from '../../src/crypto/index.ts'
import { tokenContext } from '../../src/salesforce/connections.ts'
import { DASHBOARD_ORIGIN, startStack, type Stack } from '../helpers/stack.ts'
import { postgresUrl, randomName } from '../helpers/index.ts'
import { scriptedLogin } from '../sandbox/salesforce/login.ts'

/** Start the flow for `merchantId`; returns the authorize URL the bridge redirected to. */
async function startConnect(stack: Stack, merchantId: string, environment?: string): Promise<string> {
  const token = await stack.token({ merchantId })
  const query = new URLSearchParams({ merchantId, token, ...(environment ? { environment } : {}) })
  const res = await stack.call('GET', `/oauth/salesforce/connect?${query}`)
  if (res.status !== 302) throw new Error(`connect answered ${res.status}: ${JSON.stringify(res.body)}`)
  return res.headers.get('location')!
}

async function connect(stack: Stack, merchantId: string, username = 'integration@example.com') {
  const authorize = await startConnect(stack, merchantId)
  const login = await scriptedLogin(authorize, { username })
  const callback = await fetch(login.redirect.toString(), { redirect: 'manual' })
  return { status: callback.status, html: await callback.text(), headers: callback.headers }
}

const messageOf = (html: string) => JSON.parse(/var message = (.*);/.exec(html)?.[1] ?? 'null')

async function decryptTokens(stack: Stack, merchantId: string) {
  const stored = await stack.store.getConnection(merchantId)
  const cipher = createTokenCipher(stack.config.tokenEncryptionKeys)
  return {
    access: cipher.decrypt(stored!.accessTokenEnc!, tokenContext(merchantId, 'access')),
    refresh: cipher.decrypt(stored!.refreshTokenEnc!, tokenContext(merchantId, 'refresh')),
    keyId: stored!.tokenKeyId,
  }
}

async function sfStats(stack: Stack): Promise<{ apiCalls: { total: number; byEndpoint: Record<string, number> } }> {
  return (await fetch(`${stack.salesforce.url}/__sandbox/stats`)).json() as any
}

t.test('connect: PKCE S256 and a one-time state; the callback stores the org and tells the dashboard only', async (t) => {
  const stack = await startStack(t)
  const merchantId = randomName('m')
  const authorize = new URL(await startConnect(stack, merchantId))
  t.equal(authorize.origin, stack.salesforce.url)
  t.equal(authorize.pathname, '/services/oauth2/authorize')
  const q = authorize.searchParams
  t.equal(q.get('response_type'), 'code')
  t.equal(q.get('client_id'), 'sandbox-client-id')
  t.equal(q.get('redirect_uri'), `${stack.url}/oauth/salesforce/callback`)
  t.equal(q.get('code_challenge_method'), 'S256')
  t.match(q.get('code_challenge'), /^[A-Za-z0-9_-]{43}$/)
  t.match(q.get('state'), /^[A-Za-z0-9_-]{43}$/)
  t.match(q.get('scope'), /refresh_token/)

  const login = await scriptedLogin(authorize.toString(), { username: 'integration@example.com' })
  t.match(login.redirect.toString(), `${stack.url}/oauth/salesforce/callback?`)
  const callback = await fetch(login.redirect.toString(), { redirect: 'manual' })
  const html = await callback.text()
  t.equal(callback.status, 200)
  t.same(messageOf(html), { type: 'salesforce-connected', merchantId })
  t.match(html, `window.opener.postMessage(message, "${DASHBOARD_ORIGIN}")`, 'posts to the dashboard origin only')
  t.match(callback.headers.get('content-security-policy'), /script-src 'nonce-/)

  const status = await stack.call('GET', `/v1/merchants/${merchantId}/salesforce`, { merchantId })
  t.equal(status.status, 200)
  t.match(status.body.connection, { state: 'connected', environment: 'production', username: 'integration@example.com', instanceUrl: stack.salesforce.url })
  t.match(status.body.connection.orgId, /^00D/)
  t.match(status.body.connection.userId, /^005/)

  const replay = await fetch(login.redirect.toString(), { redirect: 'manual' })
  t.equal(replay.status, 400, 'a used state is refused')
  t.same(messageOf(await replay.text()), { type: 'salesforce-error', code: 'invalid-state' })

  const audit = await stack.call('GET', `/v1/merchants/${merchantId}/salesforce/audit`, { merchantId })
  t.match(audit.body.data[0], { action: 'connection.connected', actor: `dashboard:${merchantId}` })
})

t.test('environment=sandbox goes to the sandbox login URL and is remembered', async (t) => {
  const stack = await startStack(t, { env: { SALESFORCE_SANDBOX_LOGIN_URL: 'http://localhost:1' } })
  const merchantId = randomName('m')
  const authorize = await startConnect(stack, merchantId, 'sandbox')
  t.match(authorize, /^http:\/\/localhost:1\/services\/oauth2\/authorize\?/)
  // Finish the flow on the stand-in (same server, reached through 127.0.0.1).
  const login = await scriptedLogin(authorize.replace('http://localhost:1', stack.salesforce.url), { username: 'integration@example.com' })
  const pending = await stack.store.takeOAuthState(login.state!)
  t.equal(pending?.environment, 'sandbox')
  t.equal(pending?.merchantId, merchantId)
})

t.test('state: forged, expired, and another merchant\'s token are refused', async (t) => {
  const stack = await startStack(t)
  const merchantId = randomName('m')

  const forged = await fetch(`${stack.url}/oauth/salesforce/callback?code=abc&state=${'x'.repeat(43)}`)
  t.equal(forged.status, 400)
  t.same(messageOf(await forged.text()), { type: 'salesforce-error', code: 'invalid-state' })

  const authorize = new URL(await startConnect(stack, merchantId))
  const state = authorize.searchParams.get('state')!
  const pending = await stack.store.takeOAuthState(state)
  await stack.store.saveOAuthState({ ...pending!, expiresAt: new Date(Date.now() - 1000) })
  const login = await scriptedLogin(authorize.toString(), { username: 'integration@example.com' })
  const expired = await fetch(login.redirect.toString(), { redirect: 'manual' })
  t.equal(expired.status, 400, 'expired state')
  t.same(messageOf(await expired.text()), { type: 'salesforce-error', code: 'invalid-state' })

  const otherToken = await stack.token({ merchantId: 'someone-else' })
  const other = await stack.call('GET', `/oauth/salesforce/connect?merchantId=${merchantId}&token=${otherToken}`)
  t.equal(other.status, 403)
  t.same(messageOf(other.body), { type: 'salesforce-error', code: 'auth.forbidden' })
  const none = await stack.call('GET', `/oauth/salesforce/connect?merchantId=${merchantId}`)
  t.equal(none.status, 401)
  t.equal((await stack.call('GET', `/v1/merchants/${merchantId}/salesforce`, { merchantId })).body.connection.state, 'not-connected')
})

t.test('a wrong PKCE verifier is refused by Salesforce and nothing is stored', async (t) => {
  const stack = await startStack(t)
  const merchantId = randomName('m')
  const authorize = new URL(await startConnect(stack, merchantId))
  const state = authorize.searchParams.get('state')!
  const pending = await stack.store.takeOAuthState(state)
  const cipher = createTokenCipher(stack.config.tokenEncryptionKeys)
  await stack.store.saveOAuthState({ ...pending!, codeVerifierEnc: cipher.encrypt('a'.repeat(64), `oauth-state:${state}`) })
  const login = await scriptedLogin(authorize.toString(), { username: 'integration@example.com' })
  const callback = await fetch(login.redirect.toString(), { redirect: 'manual' })
  t.equal(callback.status, 400)
  // Salesforce answers a verifier that does not match the challenge with invalid_request.
  t.same(messageOf(await callback.text()), { type: 'salesforce-error', code: 'invalid-request' })
  t.equal(await stack.store.getConnection(merchantId), null)
})

t.test('invalid_grant on refresh: needs-reauth, work stops, nothing retries in a loop', async (t) => {
  const stack = await startStack(t)
  const merchantId = randomName('m')
  t.equal((await connect(stack, merchantId)).status, 200)
  const reauth: string[] = []
  stack.services.events.on('needs-reauth', (m) => void reauth.push(m))

  const fault = async (body: unknown) => fetch(`${stack.salesforce.url}/__sandbox/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  await fault({ kind: 'revoke-refresh-token', username: 'integration@example.com' })
  await fault({ kind: 'expire-tokens' })

  const objects = await stack.call('GET', `/v1/merchants/${merchantId}/salesforce/objects`, { merchantId })
  t.equal(objects.status, 409)
  t.equal(objects.body.error.code, 'salesforce.needs-reauth')
  t.same(reauth, [merchantId], 'the merchant\'s work is told to stop')
  const status = await stack.call('GET', `/v1/merchants/${merchantId}/salesforce`, { merchantId })
  t.equal(status.body.connection.state, 'needs-reauth')

  const before = await sfStats(stack)
  const again = await stack.call('GET', `/v1/merchants/${merchantId}/salesforce/objects`, { merchantId })
  t.equal(again.body.error.code, 'salesforce.needs-reauth')
  const after = await sfStats(stack)
  t.equal(after.apiCalls.total, before.apiCalls.total, 'no call reaches Salesforce once re-authorisation is needed')

  const audit = await stack.call('GET', `/v1/merchants/${merchantId}/salesforce/audit`, { merchantId })
  t.ok(audit.body.data.some((e: any) => e.action === 'connection.needs-reauth' && e.actor === 'system'))

  t.equal((await connect(stack, merchantId)).status, 200, 'connecting again repairs it')
  t.equal((await stack.call('GET', `/v1/merchants/${merchantId}/salesforce/objects`, { merchantId })).status, 200)
})

t.test('an expired access token is refreshed once, persisted, and the call goes through', async (t) => {
  const stack = await startStack(t)
  const merchantId = randomName('m')
  await connect(stack, merchantId)
  const first = await decryptTokens(stack, merchantId)
  await fetch(`${stack.salesforce.url}/__sandbox/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'expire-tokens' }) })
  const [a, b] = await Promise.all([
    stack.call('GET', `/v1/merchants/${merchantId}/salesforce/objects?refresh=true`, { merchantId }),
    stack.call('GET', `/v1/merchants/${merchantId}/salesforce/objects/Contact/fields?refresh=true`, { merchantId }),
  ])
  t.equal(a.status, 200)
  t.equal(b.status, 200)
  const second = await decryptTokens(stack, merchantId)
  t.not(second.access, first.access, 'the new access token is stored')
  t.equal(stack.logs.lines().filter((l) => l.msg === 'Salesforce access token refreshed').length, 1, 'concurrent calls share one refresh')
})

t.test('disconnect revokes the token at Salesforce and keeps settings and links; reconnecting resumes', async (t) => {
  const stack = await startStack(t)
  const merchantId = randomName('m')
  await connect(stack, merchantId)
  const tokens = await decryptTokens(stack, merchantId)
  await stack.store.linkRecord({ merchantId, sobject: 'Contact', recordId: '003000000000001AAA', userId: 'u_1', email: 'a@example.com' })

  const other = await stack.call('DELETE', `/v1/merchants/${merchantId}/salesforce`, { merchantId: 'intruder' })
  t.equal(other.status, 403, 'another merchant cannot disconnect it')
  const res = await stack.call('DELETE', `/v1/merchants/${merchantId}/salesforce`, { merchantId })
  t.equal(res.status, 200)
  t.equal(res.body.connection.state, 'not-connected')
  const stored = await stack.store.getConnection(merchantId)
  t.equal(stored?.accessTokenEnc, null)
  t.equal(stored?.refreshTokenEnc, null)

  const refresh = await fetch(`${stack.salesforce.url}/services/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh, client_id: 'sandbox-client-id', client_secret: 'sandbox-client-secret' }) })
  t.equal(refresh.status, 400)
  t.equal(((await refresh.json()) as { error: string }).error, 'invalid_grant', 'the refresh token is revoked at Salesforce')
  t.equal((await stack.call('DELETE', `/v1/merchants/${merchantId}/salesforce`, { merchantId })).status, 404, 'nothing left to disconnect')

  await connect(stack, merchantId)
  t.ok(await stack.store.findLinkByRecord(merchantId, '003000000000001AAA'), 'same org: links kept')

  await connect(stack, merchantId, 'integration@other.example.com')
  const status = await stack.call('GET', `/v1/merchants/${merchantId}/salesforce`, { merchantId })
  t.equal(status.body.connection.username, 'integration@other.example.com')
  t.equal(await stack.store.findLinkByRecord(merchantId, '003000000000001AAA'), null, 'another org starts clean')
})

for (const backend of ['sqlite', 'postgres'] as const) {
  t.test(`${backend}: the stored bytes never hold the tokens in clear`, async (t) => {
    const stack = await startStack(t, { backend })
    const merchantId = randomName('m')
    await connect(stack, merchantId)
    const { access, refresh } = await decryptTokens(stack, merchantId)
    let bytes: string
    if (backend === 'sqlite') {
      const path = stack.sqlitePath!
      bytes = [path, `${path}-wal`].filter(existsSync).map((p) => readFileSync(p).toString('latin1')).join('')
    } else {
      const client = new pg.Client({ connectionString: postgresUrl })
      await client.connect()
      t.teardown(() => client.end())
      const { rows } = await client.query(`SELECT row_to_json(c)::text AS row FROM ${stack.schema}.connections c`)
      bytes = rows.map((r: { row: string }) => r.row).join('\n')
    }
    t.ok(bytes.includes(merchantId), 'the row was read')
    t.notOk(bytes.includes(access), 'no access token')
    t.notOk(bytes.includes(refresh), 'no refresh token')
    t.notOk(stack.logs.text().includes(access) || stack.logs.text().includes(refresh), 'not in the log either')
  })
}

t.test('key rotation: the old key still decrypts, new writes use the new key', async (t) => {
  const k1 = `k1:${Buffer.alloc(32, 1).toString('base64')}`
  const k2 = `k2:${Buffer.alloc(32, 2).toString('base64')}`
  const stack = await startStack(t, { env: { TOKEN_ENCRYPTION_KEYS: k1 } })
  const merchantId = randomName('m')
  await connect(stack, merchantId)
  t.equal((await stack.store.getConnection(merchantId))?.tokenKeyId, 'k1')

  await stack.restart({ TOKEN_ENCRYPTION_KEYS: `${k2},${k1}` })
  t.equal((await stack.call('GET', `/v1/merchants/${merchantId}/salesforce/objects`, { merchantId })).status, 200, 'old ciphertexts decrypt')
  await stack.services.connections.refresh(merchantId)
  const rotated = await stack.store.getConnection(merchantId)
  t.equal(rotated?.tokenKeyId, 'k2')
  t.match(rotated?.accessTokenEnc, /^v1\.k2\./)
  t.match(rotated?.refreshTokenEnc, /^v1\.k2\./)
  t.equal((await stack.call('GET', `/v1/merchants/${merchantId}/salesforce/objects?refresh=true`, { merchantId })).status, 200)
})

t.test('the public OAuth routes are rate limited', async (t: Test) => {
  const stack = await startStack(t)
  const statuses: number[] = []
  for (let i = 0; i < 32; i++) statuses.push((await fetch(`${stack.url}/oauth/salesforce/callback?state=x`)).status)
  t.ok(statuses.slice(0, 30).every((s) => s === 400))
  t.equal(statuses.at(-1), 429)
  const limited = await fetch(`${stack.url}/oauth/salesforce/callback?state=x`)
  t.same(messageOf(await limited.text()), { type: 'salesforce-error', code: 'rate-limited' }, 'the pop-up still tells the dashboard')
})

t.test('bad requests to the OAuth routes still answer the pop-up page', async (t) => {
  const stack = await startStack(t)
  const token = await stack.token({ merchantId: 'm_1' })
  const res = await stack.call('GET', `/oauth/salesforce/connect?merchantId=m_1&token=${token}&environment=staging`)
  t.equal(res.status, 400)
  t.same(messageOf(res.body), { type: 'salesforce-error', code: 'invalid-request' })
})
