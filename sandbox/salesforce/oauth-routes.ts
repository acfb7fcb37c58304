/**
 * OAuth 2.0 endpoints: authorize (login and allow pages), token (authorization_code and
 * refresh_token grants), revoke, userinfo and the identity URL. Errors use Salesforce's
 * `{ error, error_description }` JSON; authorize errors that cannot be redirected are pages.
 */
import { createHmac } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { renderAllowPage, renderErrorPage, renderLoginPage } from './login-page.ts'
import { REFRESH_SCOPES, type AccessToken, type AuthorizeParams, type OAuthState, type PendingAuthorization } from './oauth.ts'
import { CONNECTED_APP, findUserById, type Org, type OrgDirectory, type SandboxUser } from './orgs.ts'
import { safeDecode } from '../shared/loopback.ts'

export interface OAuthDeps {
  oauth: OAuthState
  /** The orgs whose users may log in. */
  orgs: OrgDirectory
}

const KNOWN_SCOPES = new Set(['api', 'id', 'profile', 'email', 'address', 'phone', 'openid', 'refresh_token', 'offline_access', 'web', 'full', 'chatter_api', 'visualforce', 'custom_permissions'])
/** The connected app's scopes, granted when the request names none. */
const DEFAULT_SCOPES = ['api', 'id', 'refresh_token']
const SESSION_COOKIE = 'sid'

type Form = Record<string, string | undefined>

/** The stand-in's own base URL as the caller reached it (login host = instance host). */
export function baseUrlOf(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`
}

/** Any redirect URI on 127.0.0.1 or localhost is registered (contracts §7). */
export function isAllowedRedirect(uri: string | undefined): boolean {
  if (!uri) return false
  try {
    const u = new URL(uri)
    return (u.protocol === 'http:' || u.protocol === 'https:') && (u.hostname === '127.0.0.1' || u.hostname === 'localhost')
  } catch {
    return false
  }
}

function redirectWith(reply: FastifyReply, redirectUri: string, params: Record<string, string | null>): FastifyReply {
  const u = new URL(redirectUri)
  for (const [k, v] of Object.entries(params)) if (v !== null) u.searchParams.set(k, v)
  return reply.redirect(u.toString(), 302)
}

function html(reply: FastifyReply, status: number, body: string): FastifyReply {
  return reply.code(status).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(body)
}

function oauthError(reply: FastifyReply, status: number, error: string, description: string): FastifyReply {
  return reply.code(status).header('cache-control', 'no-store').send({ error, error_description: description })
}

function readCookie(request: FastifyRequest, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=')
    if (k === name) return v.join('=')
  }
  return undefined
}

/** The bearer token of a request: `Authorization: Bearer|OAuth x`, or `oauth_token` in the query. */
export function bearerOf(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization
  const m = header ? /^(?:Bearer|OAuth)\s+(.+)$/i.exec(header) : null
  if (m) return m[1]!.trim()
  const q = (request.query as Record<string, string | undefined> | undefined)?.oauth_token
  return q || undefined
}

export function identityOf(base: string, org: Org, user: SandboxUser, version: string | undefined): Record<string, unknown> {
  const v = version === 'latest' ? '62.0' : version ?? '{version}'
  const url = (path: string) => `${base}${path.replace('{version}', v)}`
  return {
    id: `${base}/id/${org.id}/${user.id}`,
    asserted_user: true,
    user_id: user.id,
    organization_id: org.id,
    username: user.username,
    nick_name: user.username.split('@')[0],
    display_name: `${user.firstName} ${user.lastName}`,
    email: user.email,
    email_verified: true,
    first_name: user.firstName,
    last_name: user.lastName,
    timezone: 'Europe/London',
    photos: { picture: `${base}/profilephoto/005/F`, thumbnail: `${base}/profilephoto/005/T` },
    addr_street: null, addr_city: null, addr_state: null, addr_country: null, addr_zip: null,
    mobile_phone: null, mobile_phone_verified: false,
    is_lightning_login_user: false,
    status: { created_date: null, body: null },
    urls: {
      enterprise: url(`/services/Soap/c/{version}/${org.id.slice(0, 15)}`),
      metadata: url(`/services/Soap/m/{version}/${org.id.slice(0, 15)}`),
      partner: url(`/services/Soap/u/{version}/${org.id.slice(0, 15)}`),
      rest: url('/services/data/v{version}/'),
      sobjects: url('/services/data/v{version}/sobjects/'),
      search: url('/services/data/v{version}/search/'),
      query: url('/services/data/v{version}/query/'),
      recent: url('/services/data/v{version}/recent/'),
      tooling_soap: url(`/services/Soap/T/{version}/${org.id.slice(0, 15)}`),
      tooling_rest: url('/services/data/v{version}/tooling/'),
      profile: `${base}/${user.id}`,
      feeds: url('/services/data/v{version}/chatter/feeds'),
      groups: url('/services/data/v{version}/chatter/groups'),
      users: url('/services/data/v{version}/chatter/users'),
      feed_items: url('/services/data/v{version}/chatter/feed-items'),
      feed_elements: url('/services/data/v{version}/chatter/feed-elements'),
      custom_domain: base,
    },
    active: true,
    user_type: 'STANDARD',
    language: 'en_US',
    locale: 'en_GB',
    utcOffset: 0,
    last_modified_date: '2024-01-01T00:00:00.000+0000',
    is_app_installed: true,
  }
}

function userInfoOf(base: string, org: Org, user: SandboxUser): Record<string, unknown> {
  const identity = identityOf(base, org, user, undefined)
  return {
    sub: identity.id, user_id: user.id, organization_id: org.id, preferred_username: user.username,
    nickname: identity.nick_name, name: identity.display_name, email: user.email, email_verified: true,
    given_name: user.firstName, family_name: user.lastName, zoneinfo: identity.timezone, photos: identity.photos,
    profile: `${base}/${user.id}`, picture: (identity.photos as { picture: string }).picture, address: {},
    is_salesforce_integration_user: false, urls: identity.urls, active: true, user_type: 'STANDARD',
    language: 'en_US', locale: 'en_GB', utcOffset: 0, updated_at: identity.last_modified_date, is_app_installed: true,
  }
}

export function registerOAuthRoutes(app: FastifyInstance, deps: OAuthDeps): void {
  const { oauth, orgs } = deps

  const tokenResponse = (request: FastifyRequest, access: AccessToken, refresh: string | null) => {
    const base = baseUrlOf(request)
    const id = `${base}/id/${access.org.id}/${access.user.id}`
    const issuedAt = String(access.issuedAt)
    return {
      access_token: access.token,
      ...(refresh ? { refresh_token: refresh } : {}),
      signature: createHmac('sha256', CONNECTED_APP.clientSecret).update(id + issuedAt).digest('base64'),
      scope: access.scope.join(' '),
      instance_url: base,
      id,
      token_type: 'Bearer',
      issued_at: issuedAt,
    }
  }

  /** After login (or with a live session): skip the allow page when already approved. */
  const continueAuthorization = (request: FastifyRequest, reply: FastifyReply, p: PendingAuthorization) => {
    const login = p.login!
    if (oauth.isApproved(login.user, p.params.clientId) && !p.params.prompt.includes('consent')) {
      return finish(reply, p)
    }
    return html(reply, 200, renderAllowPage({
      pending: p.id, confirm: p.confirm, username: login.user.username, appName: 'Cohort (sandbox connected app)', scopes: p.params.scope,
    }))
  }

  const finish = (reply: FastifyReply, p: PendingAuthorization) => {
    const code = oauth.issueCode(p)
    oauth.finishAuthorization(p.id)
    return redirectWith(reply, p.params.redirectUri, { code, state: p.params.state })
  }

  app.get('/services/oauth2/authorize', async (request, reply) => {
    const q = request.query as Form
    if (q.client_id !== CONNECTED_APP.clientId) return html(reply, 400, renderErrorPage('invalid_client_id', 'client identifier invalid'))
    if (!isAllowedRedirect(q.redirect_uri)) return html(reply, 400, renderErrorPage('redirect_uri_mismatch', 'redirect_uri must match configuration'))
    const redirectUri = q.redirect_uri!
    const state = q.state ?? null
    const fail = (error: string, description: string) => redirectWith(reply, redirectUri, { error, error_description: description, state })
    if (q.response_type !== 'code') return fail('unsupported_response_type', 'response type not supported')
    const scope = q.scope ? q.scope.split(/[\s+]+/).filter(Boolean) : DEFAULT_SCOPES
    if (scope.some((s) => !KNOWN_SCOPES.has(s))) return fail('invalid_scope', 'the requested scope is not allowed')
    if (q.code_challenge_method && q.code_challenge_method !== 'S256') return fail('invalid_request', 'unsupported code_challenge_method')
    if (q.code_challenge !== undefined && !/^[A-Za-z0-9_-]{43}$/.test(q.code_challenge)) return fail('invalid_request', 'invalid code_challenge')
    const prompt = (q.prompt ?? '').split(/\s+/).filter(Boolean)
    const params: AuthorizeParams = {
      clientId: q.client_id, redirectUri, scope, state, prompt, codeChallenge: q.code_challenge ?? null, loginHint: q.login_hint ?? null,
    }
    const session = oauth.findSession(readCookie(request, SESSION_COOKIE))
    const forceLogin = prompt.includes('login') || prompt.includes('select_account')
    if (q.immediate === 'true' && (!session || forceLogin || !oauth.isApproved(session.user, params.clientId))) {
      return fail('immediate_unsuccessful', 'immediate unsuccessful')
    }
    const p = oauth.startAuthorization(params)
    if (session && !forceLogin) {
      p.login = session
      return continueAuthorization(request, reply, p)
    }
    return html(reply, 200, renderLoginPage({ pending: p.id, username: params.loginHint ?? '' }))
  })

  app.post('/services/oauth2/authorize', async (request, reply) => {
    const form = (request.body ?? {}) as Form
    const p = form.pending ? oauth.findAuthorization(form.pending) : undefined
    if (!p) return html(reply, 400, renderErrorPage('invalid_request', 'your authorization session has expired; start again'))
    if (form.action === 'login') {
      const found = orgs.findUserByUsername(form.username ?? '')
      if (!found || found.user.password !== (form.pw ?? form.password)) {
        return html(reply, 200, renderLoginPage({
          pending: p.id, username: form.username ?? '',
          error: 'Please check your username and password. If you still can\'t log in, contact your Salesforce administrator.',
        }))
      }
      p.login = found
      const sid = oauth.openSession(found.org, found.user)
      reply.header('set-cookie', `${SESSION_COOKIE}=${sid}; Path=/; HttpOnly; SameSite=Lax`)
      return continueAuthorization(request, reply, p)
    }
    if (!p.login || form.confirm !== p.confirm) return html(reply, 400, renderErrorPage('invalid_request', 'the allow form was not recognised'))
    if (form.action === 'deny') {
      oauth.finishAuthorization(p.id)
      return redirectWith(reply, p.params.redirectUri, { error: 'access_denied', error_description: 'end-user denied authorization', state: p.params.state })
    }
    if (form.action !== 'allow') return html(reply, 400, renderErrorPage('invalid_request', 'unknown action'))
    oauth.approve(p.login.user, p.params.clientId)
    return finish(reply, p)
  })

  app.post('/services/oauth2/token', async (request, reply) => {
    const form = (typeof request.body === 'object' && request.body ? request.body : {}) as Form
    let clientId = form.client_id
    let clientSecret = form.client_secret
    const basic = /^Basic\s+(.+)$/i.exec(request.headers.authorization ?? '')
    if (basic) {
      const [id, ...secret] = Buffer.from(basic[1]!, 'base64').toString('utf8').split(':')
      clientId ??= safeDecode(id ?? '')
      clientSecret ??= safeDecode(secret.join(':'))
    }
    const grantType = form.grant_type
    if (!grantType) return oauthError(reply, 400, 'invalid_request', 'grant type not supported')
    if (grantType !== 'authorization_code' && grantType !== 'refresh_token') return oauthError(reply, 400, 'unsupported_grant_type', 'grant type not supported')
    if (clientId !== CONNECTED_APP.clientId) return oauthError(reply, 400, 'invalid_client_id', 'client identifier invalid')
    if (clientSecret !== CONNECTED_APP.clientSecret) return oauthError(reply, 400, 'invalid_client', 'invalid client credentials')

    if (grantType === 'authorization_code') {
      if (!form.code) return oauthError(reply, 400, 'invalid_grant', 'invalid authorization code')
      const result = oauth.redeemCode(form.code, form.redirect_uri, form.code_verifier)
      if (!result.ok) return oauthError(reply, 400, result.error, result.description)
      const withRefresh = result.grant.scope.some((s) => REFRESH_SCOPES.has(s))
      const { access, refresh } = oauth.issueTokens(result.grant, withRefresh, form.code)
      return reply.header('cache-control', 'no-store').send(tokenResponse(request, access, refresh?.token ?? null))
    }
    const access = form.refresh_token ? oauth.refresh(form.refresh_token) : null
    if (!access) return oauthError(reply, 400, 'invalid_grant', 'expired access/refresh token')
    return reply.header('cache-control', 'no-store').send(tokenResponse(request, access, null))
  })

  const revoke = async (request: FastifyRequest, reply: FastifyReply) => {
    const token = ((request.body as Form | undefined)?.token ?? (request.query as Form).token)
    if (!token) return oauthError(reply, 400, 'unsupported_token_type', 'this token type is not supported')
    if (!oauth.revoke(token)) return oauthError(reply, 400, 'invalid_token', 'invalid token')
    return reply.code(200).send()
  }
  app.post('/services/oauth2/revoke', revoke)
  app.get('/services/oauth2/revoke', revoke)

  const userinfo = async (request: FastifyRequest, reply: FastifyReply) => {
    const access = oauth.authenticate(bearerOf(request) ?? '')
    if (!access) return reply.code(403).type('text/plain').send('Bad_OAuth_Token')
    return reply.send(userInfoOf(baseUrlOf(request), access.org, access.user))
  }
  app.get('/services/oauth2/userinfo', userinfo)
  app.post('/services/oauth2/userinfo', userinfo)

  app.get('/id/:orgId/:userId', async (request, reply) => {
    const { orgId, userId } = request.params as { orgId: string; userId: string }
    const access = oauth.authenticate(bearerOf(request) ?? '')
    if (!access) return reply.code(403).type('text/plain').send('Bad_OAuth_Token')
    const org = orgs.findById(orgId)
    const user = org ? findUserById(org, userId) : undefined
    if (!org || !user || org.id !== access.org.id) return reply.code(403).type('text/plain').send('Bad_Id')
    const { version } = request.query as Form
    return reply.send(identityOf(baseUrlOf(request), org, user, version))
  })

  app.get('/.well-known/openid-configuration', async (request) => {
    const base = baseUrlOf(request)
    return {
      issuer: base,
      authorization_endpoint: `${base}/services/oauth2/authorize`,
      token_endpoint: `${base}/services/oauth2/token`,
      revocation_endpoint: `${base}/services/oauth2/revoke`,
      userinfo_endpoint: `${base}/services/oauth2/userinfo`,
      response_types_supported: ['code'],
      scopes_supported: [...KNOWN_SCOPES],
      code_challenge_methods_supported: ['S256'],
      grant_types_supported: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
    }
  })
}
