/**
 * OAuth 2.0 web-server flow of the Salesforce stand-in, driven by jsforce 3 (an independent
 * client) and raw HTTP for the error shapes.
 */
import { createHmac } from 'node:crypto'
import t from 'tap'
import jsforce from 'jsforce'
import {
  API_USER, authorizeUrl, CLIENT_ID, CLIENT_SECRET, connect, makePkce, ORG2_USER, postToken, REDIRECT_URI, scriptedLogin, startSandbox, UI_USER,
} from './login.ts'

const VERSION = '62.0'

t.test('jsforce: PKCE code exchange, identity, refresh', async (t) => {
  const sandbox = await startSandbox(t)
  const oauth2 = new jsforce.OAuth2({ loginUrl: sandbox.url, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUri: REDIRECT_URI, useVerifier: true })
  const url = oauth2.getAuthorizationUrl({ scope: 'api refresh_token id', state: 'merchant-42', prompt: 'login consent' })
  const login = await scriptedLogin(url)
  t.equal(login.state, 'merchant-42', 'state is echoed')
  t.equal(login.redirect.origin + login.redirect.pathname, REDIRECT_URI)
  t.ok(login.code?.endsWith('=='), 'code looks like a Salesforce code')
  t.match(login.pages[0], /<form[^>]*id="login_form"/, 'a login page was shown')
  t.match(login.pages[1], /Allow Access\?/, 'an allow page was shown')

  const conn = new jsforce.Connection({ oauth2, version: VERSION })
  const userInfo = await conn.authorize(login.code!)
  t.match(userInfo.organizationId, /^00D[a-zA-Z0-9]{15}$/)
  t.match(userInfo.id, /^005[a-zA-Z0-9]{15}$/)
  t.equal(conn.instanceUrl, sandbox.url)
  t.ok(conn.refreshToken, 'a refresh token was granted')
  t.match(conn.accessToken, new RegExp(`^${userInfo.organizationId.slice(0, 15)}!`))

  const identity = await conn.identity()
  t.equal(identity.username, API_USER)
  t.equal(identity.user_id, userInfo.id)
  t.equal(identity.organization_id, userInfo.organizationId)
  t.match(identity.urls.rest, /\/services\/data\/v\{version\}\/$/)

  const refreshed = await oauth2.refreshToken(conn.refreshToken!)
  t.ok(refreshed.access_token && refreshed.access_token !== conn.accessToken, 'a new access token')
  t.notOk('refresh_token' in refreshed, 'refresh responses carry no refresh token')
  t.equal(refreshed.instance_url, sandbox.url)
  const expected = createHmac('sha256', CLIENT_SECRET).update(refreshed.id + refreshed.issued_at).digest('base64')
  t.equal(refreshed.signature, expected, 'signature = HMAC-SHA256(id + issued_at, client secret)')
  t.match(refreshed.issued_at, /^\d{13}$/, 'issued_at is epoch ms as a string')
})

t.test('token response shape and the two orgs', async (t) => {
  const sandbox = await startSandbox(t)
  const one = await connect(sandbox.url, API_USER)
  const two = await connect(sandbox.url, ORG2_USER)
  t.same(Object.keys(one).sort(), ['access_token', 'id', 'instance_url', 'issued_at', 'refresh_token', 'scope', 'signature', 'token_type'])
  t.equal(one.token_type, 'Bearer')
  t.equal(one.scope, 'api refresh_token id')
  const orgOf = (id: string) => id.split('/').at(-2)
  t.not(orgOf(one.id), orgOf(two.id), 'different org ids')
  t.equal(one.instance_url, two.instance_url, 'instance URLs share the host')

  const res = await fetch(one.id, { headers: { authorization: `Bearer ${one.access_token}` } })
  t.equal(res.status, 200)
  t.equal(((await res.json()) as { username: string }).username, API_USER)
  const other = await fetch(two.id, { headers: { authorization: `Bearer ${one.access_token}` } })
  t.equal(other.status, 403, 'another org\'s identity URL is refused')

  const userinfo = await fetch(`${sandbox.url}/services/oauth2/userinfo`, { headers: { authorization: `Bearer ${two.access_token}` } })
  const info = (await userinfo.json()) as Record<string, unknown>
  t.equal(info.preferred_username, ORG2_USER)
  t.equal(info.sub, two.id)
  const bad = await fetch(`${sandbox.url}/services/oauth2/userinfo`, { headers: { authorization: 'Bearer nope' } })
  t.equal(bad.status, 403)
  t.equal(await bad.text(), 'Bad_OAuth_Token')
})

t.test('PKCE: wrong verifier → invalid_request, missing verifier → invalid_grant', async (t) => {
  const sandbox = await startSandbox(t)
  const exchange = async (verifier?: string) => {
    const pkce = makePkce()
    const login = await scriptedLogin(authorizeUrl(sandbox.url, { code_challenge: pkce.challenge, code_challenge_method: 'S256' }))
    return postToken(sandbox.url, {
      grant_type: 'authorization_code', code: login.code!, client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uri: REDIRECT_URI,
      ...(verifier === undefined ? {} : { code_verifier: verifier === 'right' ? pkce.verifier : verifier }),
    })
  }
  t.same(await exchange('not-the-verifier'), { status: 400, body: { error: 'invalid_request', error_description: 'invalid code verifier' } })
  t.same(await exchange(), { status: 400, body: { error: 'invalid_grant', error_description: 'invalid code verifier' } })
  const ok = await exchange('right')
  t.equal(ok.status, 200)
})

t.test('codes are single-use; client and redirect checks', async (t) => {
  const sandbox = await startSandbox(t)
  const login = await scriptedLogin(authorizeUrl(sandbox.url))
  const form = { grant_type: 'authorization_code', code: login.code!, client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uri: REDIRECT_URI }

  t.same(await postToken(sandbox.url, { ...form, client_id: 'nope' }), { status: 400, body: { error: 'invalid_client_id', error_description: 'client identifier invalid' } })
  t.same(await postToken(sandbox.url, { ...form, client_secret: 'wrong' }), { status: 400, body: { error: 'invalid_client', error_description: 'invalid client credentials' } })
  t.same(await postToken(sandbox.url, { ...form, grant_type: 'password' }), { status: 400, body: { error: 'unsupported_grant_type', error_description: 'grant type not supported' } })

  const first = await postToken(sandbox.url, form)
  t.equal(first.status, 200)
  const again = await postToken(sandbox.url, form)
  t.same(again, { status: 400, body: { error: 'invalid_grant', error_description: 'invalid authorization code' } })
  const rest = await fetch(`${first.body.instance_url}/services/data/v${VERSION}/limits`, { headers: { authorization: `Bearer ${first.body.access_token}` } })
  t.equal(rest.status, 401, 'a replayed code revokes what it gave')

  const other = await scriptedLogin(authorizeUrl(sandbox.url))
  const mismatch = await postToken(sandbox.url, { ...form, code: other.code!, redirect_uri: 'http://127.0.0.1:9999/elsewhere' })
  t.same(mismatch, { status: 400, body: { error: 'redirect_uri_mismatch', error_description: 'redirect_uri must match configuration' } })
  t.same(await postToken(sandbox.url, { ...form, code: 'made-up' }), { status: 400, body: { error: 'invalid_grant', error_description: 'invalid authorization code' } })
})

t.test('authorize: redirect rule, bad client, unsupported response type, deny, bad password', async (t) => {
  const sandbox = await startSandbox(t)
  const page = await fetch(authorizeUrl(sandbox.url, { redirect_uri: 'https://evil.example.com/cb' }), { redirect: 'manual' })
  t.equal(page.status, 400)
  t.match(await page.text(), 'error=redirect_uri_mismatch&amp;error_description=redirect_uri must match configuration')
  const localhost = await fetch(authorizeUrl(sandbox.url, { redirect_uri: 'http://localhost:3000/x' }), { redirect: 'manual' })
  t.equal(localhost.status, 200, 'localhost redirect URIs are accepted')
  const client = await fetch(authorizeUrl(sandbox.url, { client_id: 'other' }), { redirect: 'manual' })
  t.equal(client.status, 400)
  t.match(await client.text(), 'error=invalid_client_id')

  const token = await fetch(authorizeUrl(sandbox.url, { response_type: 'token', state: 's1' }), { redirect: 'manual' })
  t.equal(token.status, 302)
  const location = new URL(token.headers.get('location')!)
  t.equal(location.searchParams.get('error'), 'unsupported_response_type')
  t.equal(location.searchParams.get('state'), 's1')

  const denied = await scriptedLogin(authorizeUrl(sandbox.url, { state: 's2' }), { deny: true })
  t.equal(denied.error, 'access_denied')
  t.equal(denied.state, 's2')
  t.equal(denied.code, null)

  await t.rejects(scriptedLogin(authorizeUrl(sandbox.url), { password: 'wrong' }), /login refused/)

  const scope = await fetch(authorizeUrl(sandbox.url, { scope: 'api nonsense' }), { redirect: 'manual' })
  t.equal(new URL(scope.headers.get('location')!).searchParams.get('error'), 'invalid_scope')
})

t.test('session cookie skips the login page; prompt=consent shows the allow page again', async (t) => {
  const sandbox = await startSandbox(t)
  const first = await scriptedLogin(authorizeUrl(sandbox.url), { username: UI_USER })
  t.ok(first.cookie)
  const again = await scriptedLogin(authorizeUrl(sandbox.url), { cookie: first.cookie })
  t.ok(again.code, 'approved before: straight back with a code')
  t.same(again.pages, [], 'no page shown')
  const consent = await scriptedLogin(authorizeUrl(sandbox.url, { prompt: 'consent' }), { cookie: first.cookie })
  t.equal(consent.pages.length, 1)
  t.match(consent.pages[0], /Allow Access\?/)
  const relogin = await scriptedLogin(authorizeUrl(sandbox.url, { prompt: 'login' }), { cookie: first.cookie })
  t.match(relogin.pages[0], /id="login_form"/, 'prompt=login shows the login page')
})

t.test('revoke: a revoked refresh token gives invalid_grant and kills its access tokens', async (t) => {
  const sandbox = await startSandbox(t)
  const tokens = await connect(sandbox.url)
  const revoke = await fetch(`${sandbox.url}/services/oauth2/revoke`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: tokens.refresh_token }),
  })
  t.equal(revoke.status, 200)
  t.equal(await revoke.text(), '')
  const refresh = await postToken(sandbox.url, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: CLIENT_ID, client_secret: CLIENT_SECRET })
  t.same(refresh, { status: 400, body: { error: 'invalid_grant', error_description: 'expired access/refresh token' } })
  const rest = await fetch(`${tokens.instance_url}/services/data/v${VERSION}/sobjects`, { headers: { authorization: `Bearer ${tokens.access_token}` } })
  t.equal(rest.status, 401)
  t.same(await rest.json(), [{ message: 'Session expired or invalid', errorCode: 'INVALID_SESSION_ID' }])

  const unknown = await fetch(`${sandbox.url}/services/oauth2/revoke?token=unknown`)
  t.equal(unknown.status, 400)
  t.equal(((await unknown.json()) as { error: string }).error, 'invalid_token')
  const again = await fetch(`${sandbox.url}/services/oauth2/revoke?token=${encodeURIComponent(tokens.refresh_token)}`)
  t.equal(again.status, 400, 'a token revoked already is as good as unknown')
  t.equal(((await again.json()) as { error: string }).error, 'invalid_token')

  const oauth2 = new jsforce.OAuth2({ loginUrl: sandbox.url, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUri: REDIRECT_URI })
  await t.rejects(oauth2.refreshToken(tokens.refresh_token), { name: 'invalid_grant', message: 'expired access/refresh token' })
})

t.test('expired access tokens: 401 INVALID_SESSION_ID, jsforce refreshes and retries', async (t) => {
  const sandbox = await startSandbox(t)
  const tokens = await connect(sandbox.url)
  const conn = new jsforce.Connection({
    oauth2: { loginUrl: sandbox.url, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUri: REDIRECT_URI },
    instanceUrl: tokens.instance_url, accessToken: tokens.access_token, refreshToken: tokens.refresh_token, version: VERSION,
  })
  let refreshed = 0
  conn.on('refresh', () => refreshed++)
  sandbox.addFault({ kind: 'expire-tokens' })
  const raw = await fetch(`${tokens.instance_url}/services/data/v${VERSION}/limits`, { headers: { authorization: `Bearer ${tokens.access_token}` } })
  t.equal(raw.status, 401)
  t.same(await raw.json(), [{ message: 'Session expired or invalid', errorCode: 'INVALID_SESSION_ID' }])
  const limits = await conn.limits()
  t.equal(refreshed, 1, 'jsforce refreshed once')
  t.ok(limits.DailyApiRequests)

  // Tokens expire by time too: a stand-in whose tokens live 0 s refuses them at once.
  const shortLived = await startSandbox(t, { tokenTtlSeconds: 0 })
  const short = await connect(shortLived.url)
  const res = await fetch(`${short.instance_url}/services/data/v${VERSION}/sobjects`, { headers: { authorization: `Bearer ${short.access_token}` } })
  t.equal(res.status, 401)
})
