/**
 * The one Salesforce connection factory of the service. Per merchant: a jsforce Connection
 * built from the stored (encrypted) tokens, API version pinned, `Sforce-Call-Options:
 * client=…` on every call, and a refresh that is single-flight per merchant, persists the new
 * access token (and a rotated refresh token) before any request uses it, and turns
 * `invalid_grant` into the `needs-reauth` state: the work stops, status shows it, nothing
 * retries in a loop.
 */
import { Connection, OAuth2, type TokenResponse } from 'jsforce'
import type { Config } from '../config.ts'
import { AppError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import type { MerchantEvents } from '../merchant-events.ts'
import type { TokenCipher } from '../crypto/index.ts'
import type { Connection as StoredConnection, SalesforceEnvironment, Store } from '../store/index.ts'
import type { ApiBudget } from './budget.ts'

export interface SalesforceConnections {
  /** A ready jsforce Connection for the merchant; `salesforce.not-connected` / `salesforce.needs-reauth` otherwise. */
  get(merchantId: string): Promise<Connection>
  /** Refresh the access token now (single-flight per merchant). */
  refresh(merchantId: string): Promise<string>
  /** Drop the cached connection (disconnect, reconnect, needs-reauth). */
  evict(merchantId: string): void
  /** OAuth2 client of an environment, for the connect flow and revocation. */
  oauth2(environment: SalesforceEnvironment): OAuth2
}

export interface SalesforceConnectionsDeps {
  config: Config
  store: Store
  cipher: TokenCipher
  logger: Logger
  /** Told when a connection moves to needs-reauth, so the merchant's work stops. */
  events: MerchantEvents
  /** Counts every API call of every connection it builds (the org's API budget). */
  budget?: ApiBudget
}

/** Context strings of the token ciphertexts (authenticated data): a token only decrypts in its own slot. */
export const tokenContext = (merchantId: string, kind: 'access' | 'refresh') => `connection:${merchantId}:${kind}`

export function loginUrlOf(config: Config, environment: SalesforceEnvironment): string {
  return environment === 'sandbox' ? config.salesforce.sandboxLoginUrl : config.salesforce.loginUrl
}

export function redirectUriOf(config: Config): string {
  return `${config.publicUrl}/oauth/salesforce/callback`
}

export function createSalesforceConnections(deps: SalesforceConnectionsDeps): SalesforceConnections {
  const { config, store, cipher } = deps
  const logger = deps.logger.child({ component: 'salesforce-connections' })
  const cache = new Map<string, Connection>()
  const refreshing = new Map<string, Promise<{ accessToken: string; response: TokenResponse }>>()

  const oauth2 = (environment: SalesforceEnvironment) =>
    new OAuth2({
      loginUrl: loginUrlOf(config, environment),
      clientId: config.salesforce.clientId,
      clientSecret: config.salesforce.clientSecret.reveal(),
      redirectUri: redirectUriOf(config),
    })

  async function load(merchantId: string): Promise<StoredConnection> {
    const stored = await store.getConnection(merchantId)
    if (!stored || stored.state === 'disconnected' || !stored.refreshTokenEnc) {
      throw new AppError('salesforce.not-connected', `merchant ${merchantId} has no Salesforce connection`)
    }
    if (stored.state === 'needs-reauth') {
      throw new AppError('salesforce.needs-reauth', `merchant ${merchantId} must connect Salesforce again`)
    }
    return stored
  }

  async function markNeedsReauth(merchantId: string, reason: string): Promise<void> {
    await store.setConnectionState(merchantId, 'needs-reauth')
    await store.appendAudit({ merchantId, actor: 'system', action: 'connection.needs-reauth', details: { reason } })
    cache.delete(merchantId)
    logger.warn({ merchantId, reason }, 'Salesforce refused the refresh token: connection needs re-authorisation')
    await deps.events.emit('needs-reauth', merchantId)
  }

  async function doRefresh(merchantId: string): Promise<{ accessToken: string; response: TokenResponse }> {
    const stored = await load(merchantId)
    const refreshToken = cipher.decrypt(stored.refreshTokenEnc!, tokenContext(merchantId, 'refresh'))
    let response: TokenResponse
    try {
      response = await oauth2(stored.environment).refreshToken(refreshToken)
    } catch (err) {
      const name = (err as Error).name
      if (name === 'invalid_grant') {
        await markNeedsReauth(merchantId, (err as Error).message)
        throw new AppError('salesforce.needs-reauth', `Salesforce refused the refresh token of merchant ${merchantId}`, { cause: err })
      }
      throw new AppError('salesforce.unavailable', `token refresh failed: ${name}`, { cause: err })
    }
    const rotated = response.refresh_token ?? null
    await store.updateConnectionTokens(merchantId, {
      accessTokenEnc: cipher.encrypt(response.access_token, tokenContext(merchantId, 'access')),
      refreshTokenEnc: cipher.encrypt(rotated ?? refreshToken, tokenContext(merchantId, 'refresh')),
      tokenKeyId: cipher.currentKeyId,
    })
    logger.info({ merchantId, rotated: rotated !== null }, 'Salesforce access token refreshed')
    return { accessToken: response.access_token, response }
  }

  /** Single-flight: concurrent callers for one merchant share one token request. */
  function refreshOnce(merchantId: string): Promise<{ accessToken: string; response: TokenResponse }> {
    const pending = refreshing.get(merchantId)
    if (pending) return pending
    const started = doRefresh(merchantId).finally(() => refreshing.delete(merchantId))
    refreshing.set(merchantId, started)
    return started
  }

  async function build(merchantId: string): Promise<Connection> {
    const stored = await load(merchantId)
    const conn = new Connection({
      oauth2: { clientId: config.salesforce.clientId, clientSecret: config.salesforce.clientSecret.reveal(), redirectUri: redirectUriOf(config), loginUrl: loginUrlOf(config, stored.environment) },
      instanceUrl: stored.instanceUrl,
      accessToken: stored.accessTokenEnc ? cipher.decrypt(stored.accessTokenEnc, tokenContext(merchantId, 'access')) : undefined,
      version: config.salesforce.apiVersion,
      callOptions: { client: config.salesforce.clientName },
      // jsforce calls this on a 401 and makes concurrent requests wait for it.
      refreshFn: (_conn, callback) => {
        refreshOnce(merchantId).then(
          ({ accessToken, response }) => callback(null, accessToken, response),
          (err: unknown) => callback(err as Error),
        )
      },
    })
    deps.budget?.track(conn, stored.orgId)
    return conn
  }

  return {
    async get(merchantId) {
      const cached = cache.get(merchantId)
      if (cached) return cached
      const conn = await build(merchantId)
      cache.set(merchantId, conn)
      return conn
    },
    async refresh(merchantId) {
      const { accessToken } = await refreshOnce(merchantId)
      const cached = cache.get(merchantId)
      if (cached) cached.accessToken = accessToken
      return accessToken
    },
    evict(merchantId) {
      cache.delete(merchantId)
    },
    oauth2,
  }
}
