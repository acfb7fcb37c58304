/**
 * Connecting a merchant's Salesforce org (contracts §2): the dashboard opens
 * `/oauth/salesforce/connect` in a pop-up; Salesforce redirects back to
 * `/oauth/salesforce/callback`, which stores the tokens encrypted and tells the dashboard.
 * Web-server flow with PKCE (S256) and a one-time `state` bound to the merchant (10 minutes).
 */
import { createHash, randomBytes } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { Config } from '../config.ts'
import { AppError } from '../errors.ts'
import type { DashboardAuth, Principal } from '../http/index.ts'
import type { MerchantEvents } from '../merchant-events.ts'
import { withTimeout } from '../retry.ts'
import type { TokenCipher } from '../crypto/index.ts'
import { loginUrlOf, OAUTH_CALL_TIMEOUT_MS, redirectUriOf, tokenContext, type SalesforceConnections } from '../salesforce/index.ts'
import type { Store } from '../store/index.ts'
import { sendPopupPage } from './popup-page.ts'

export interface OAuthRouteDeps {
  config: Config
  store: Store
  cipher: TokenCipher
  connections: SalesforceConnections
  auth: DashboardAuth
  events: MerchantEvents
}

const STATE_TTL_MS = 10 * 60 * 1000
const SCOPES = 'api refresh_token id'

const stateContext = (state: string) => `oauth-state:${state}`

/** What the identity URL answers (the parts the bridge keeps). */
const Identity = z.object({ user_id: z.string().min(1), organization_id: z.string().min(1), username: z.string().min(1) })

const ConnectQuery = z.object({
  merchantId: z.string().min(1).max(128),
  token: z.string().min(1).optional(),
  environment: z.enum(['production', 'sandbox']).default('production'),
})

const CallbackQuery = z.object({
  code: z.string().optional(),
  state: z.string().optional(),
  error: z.string().optional(),
  error_description: z.string().optional(),
})

export function registerOAuthRoutes(app: FastifyInstance, deps: OAuthRouteDeps): void {
  app.register(async (scope) => routesOf(scope, deps))
}

function routesOf(scope: FastifyInstance, deps: OAuthRouteDeps): void {
  const { config, store, cipher, connections } = deps
  const routes = scope.withTypeProvider<ZodTypeProvider>()
  const fail = (reply: FastifyReply, status: number, code: string) => sendPopupPage(reply, status, config.dashboard.origin, { type: 'salesforce-error', code })
  // Per merchant on connect (behind a proxy every caller may share one address), per address on the callback.
  const rateLimit = { max: 30, timeWindow: '1 minute', keyGenerator: (request: FastifyRequest) => (request.query as { merchantId?: string } | undefined)?.merchantId ?? request.ip }

  // The pop-up must keep its opener through the trip to Salesforce and back, or it cannot
  // post the result to the dashboard: no Cross-Origin-Opener-Policy isolation on these routes.
  scope.addHook('onSend', async (_request, reply) => {
    void reply.header('cross-origin-opener-policy', 'unsafe-none')
  })
  // Whatever goes wrong, the pop-up answers with the page that tells the dashboard.
  scope.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown }, request, reply) => {
    const status = err instanceof AppError ? err.status : err.statusCode ?? 500
    const code = err instanceof AppError ? err.code : status === 429 ? 'rate-limited' : err.validation ? 'invalid-request' : status < 500 ? 'invalid-request' : 'internal'
    if (status >= 500) request.log.error({ err }, 'OAuth route failed')
    return fail(reply, status, code)
  })

  routes.get('/oauth/salesforce/connect', { schema: { querystring: ConnectQuery, tags: ['oauth'] }, config: { rateLimit } }, async (request, reply) => {
    const { merchantId, token, environment } = request.query
    let principal: Principal
    try {
      if (!token) throw new AppError('auth.missing', 'missing token')
      principal = await deps.auth.verify(token)
      if (principal.kind === 'merchant' && principal.merchantId !== merchantId) throw new AppError('auth.forbidden', 'token is for another merchant')
    } catch (err) {
      const appErr = err instanceof AppError ? err : new AppError('auth.invalid', 'token is invalid', { cause: err })
      request.log.warn({ merchantId, code: appErr.code }, 'connect refused')
      return fail(reply, appErr.status, appErr.code)
    }

    const state = randomBytes(32).toString('base64url')
    const verifier = randomBytes(48).toString('base64url')
    const challenge = createHash('sha256').update(verifier).digest('base64url')
    await store.saveOAuthState({
      state,
      merchantId,
      environment,
      codeVerifierEnc: cipher.encrypt(verifier, stateContext(state)),
      actor: principal.actor,
      expiresAt: new Date(Date.now() + STATE_TTL_MS),
    })
    const url = new URL(`${loginUrlOf(config, environment)}/services/oauth2/authorize`)
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: config.salesforce.clientId,
      redirect_uri: redirectUriOf(config),
      scope: SCOPES,
      state,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      prompt: 'login consent',
    }).toString()
    return reply.code(302).header('cache-control', 'no-store').redirect(url.toString())
  })

  routes.get('/oauth/salesforce/callback', { schema: { querystring: CallbackQuery, tags: ['oauth'] }, config: { rateLimit } }, async (request, reply) => {
    const { code, state, error } = request.query
    const pending = state ? await store.takeOAuthState(state) : null
    if (!pending) {
      request.log.warn('callback with an unknown, used or expired state')
      return fail(reply, 400, 'invalid-state')
    }
    const log = request.log.child({ merchantId: pending.merchantId })
    if (error || !code) {
      log.warn({ error }, 'Salesforce did not authorise the connection')
      return fail(reply, 400, error === 'access_denied' ? 'access-denied' : 'authorization-failed')
    }

    const verifier = cipher.decrypt(pending.codeVerifierEnc, stateContext(pending.state))
    let token: { access_token: string; refresh_token?: string; instance_url: string; id: string }
    try {
      token = await withTimeout(connections.oauth2(pending.environment).requestToken(code, { code_verifier: verifier }), OAUTH_CALL_TIMEOUT_MS, () => Object.assign(new Error('Salesforce did not answer the token request in time'), { name: 'timeout' }))
    } catch (err) {
      const name = (err as Error).name
      log.warn({ error: name }, 'code exchange failed')
      // Salesforce's OAuth error names (invalid_grant, invalid_request, invalid_client, …) reach the dashboard as codes.
      if (name === 'timeout') return fail(reply, 504, 'token-exchange-timed-out')
      return fail(reply, 400, /^[a-z_]{3,40}$/.test(name) && name !== 'error' ? name.replace(/_/g, '-') : 'token-exchange-failed')
    }
    if (!token.refresh_token) {
      log.warn('Salesforce returned no refresh token (the connected app needs the refresh_token scope)')
      return fail(reply, 400, 'no-refresh-token')
    }

    let identity: z.infer<typeof Identity>
    try {
      const res = await fetch(token.id, { headers: { authorization: `Bearer ${token.access_token}`, accept: 'application/json' }, signal: AbortSignal.timeout(15_000) })
      identity = Identity.parse(await res.json())
    } catch (err) {
      log.warn({ reason: (err as Error).message }, 'identity lookup failed')
      return fail(reply, 502, 'identity-failed')
    }

    const merchantId = pending.merchantId
    const previous = await store.getConnection(merchantId)
    // Another org: nothing synced with the old one applies any more. The same org resumes.
    if (previous && previous.orgId !== identity.organization_id) await store.clearMerchantSyncState(merchantId)
    const now = new Date()
    await store.saveConnection({
      merchantId,
      state: 'connected',
      environment: pending.environment,
      orgId: identity.organization_id,
      userId: identity.user_id,
      username: identity.username,
      instanceUrl: token.instance_url.replace(/\/+$/, ''),
      accessTokenEnc: cipher.encrypt(token.access_token, tokenContext(merchantId, 'access')),
      refreshTokenEnc: cipher.encrypt(token.refresh_token, tokenContext(merchantId, 'refresh')),
      tokenKeyId: cipher.currentKeyId,
      connectedAt: now,
      updatedAt: now,
    })
    connections.evict(merchantId)
    await store.appendAudit({
      merchantId,
      actor: pending.actor,
      action: 'connection.connected',
      details: { orgId: identity.organization_id, username: identity.username, environment: pending.environment, sameOrg: previous?.orgId === identity.organization_id },
    })
    await deps.events.emit('connected', merchantId)
    log.info({ orgId: identity.organization_id }, 'Salesforce connected')
    return sendPopupPage(reply, 200, config.dashboard.origin, { type: 'salesforce-connected', merchantId })
  })
}
