/**
 * OAuth state of the stand-in: pending authorize requests, browser sessions, remembered
 * approvals, authorization codes (single use, PKCE-bound), refresh tokens and access tokens
 * (expiring; revocable; a revoked refresh token takes its access tokens with it).
 */
import { createHash, randomBytes } from 'node:crypto'
import type { Org, SandboxUser } from './orgs.ts'

export interface Grant { org: Org; user: SandboxUser; scope: string[] }

export interface AccessToken extends Grant { token: string; issuedAt: number; expiresAt: number; refreshToken: string | null; revoked: boolean }
export interface RefreshToken extends Grant { token: string; revoked: boolean; issuedAt: number }

export interface AuthorizeParams {
  clientId: string
  redirectUri: string
  scope: string[]
  state: string | null
  prompt: string[]
  codeChallenge: string | null
  loginHint: string | null
}

export interface PendingAuthorization {
  id: string
  params: AuthorizeParams
  /** Set once the login form is accepted. */
  login: { org: Org; user: SandboxUser } | null
  /** One-time value the allow form must echo (a scripted client reads it from the page). */
  confirm: string
  expiresAt: number
}

interface AuthCode extends Grant { code: string; clientId: string; redirectUri: string; challenge: string | null; expiresAt: number; used: boolean; issued: string[] }

export type CodeRedemption =
  | { ok: true; grant: Grant; codeTokens: string[] }
  | { ok: false; error: string; description: string }

export interface OAuthState {
  startAuthorization(params: AuthorizeParams): PendingAuthorization
  findAuthorization(id: string): PendingAuthorization | undefined
  finishAuthorization(id: string): void
  openSession(org: Org, user: SandboxUser): string
  findSession(sid: string | undefined): { org: Org; user: SandboxUser } | undefined
  isApproved(user: SandboxUser, clientId: string): boolean
  approve(user: SandboxUser, clientId: string): void
  issueCode(pending: PendingAuthorization): string
  redeemCode(code: string, redirectUri: string | undefined, verifier: string | undefined): CodeRedemption
  /** New access token (and refresh token when the scope allows one). */
  issueTokens(grant: Grant, withRefresh: boolean, code?: string): { access: AccessToken; refresh: RefreshToken | null }
  refresh(token: string): AccessToken | null
  /** Revoke an access or refresh token; false when unknown. */
  revoke(token: string): boolean
  /** The live access token, or undefined when unknown, expired or revoked. */
  authenticate(token: string): AccessToken | undefined
  /** Fault: every access token issued so far (of one org, when given) expires now. */
  expireAccessTokens(orgId?: string): number
  /** Fault: revoke refresh tokens (one token, one user's, or all) and their access tokens. */
  revokeRefreshTokens(filter: { token?: string; username?: string }): number
}

const CODE_TTL_MS = 15 * 60_000
const PENDING_TTL_MS = 30 * 60_000

const random = (bytes: number) => randomBytes(bytes).toString('base64url')

/** base64url(SHA-256(verifier)), no padding: the S256 code challenge. */
export function codeChallengeOf(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url')
}

/** Scopes that allow a refresh token. */
export const REFRESH_SCOPES = new Set(['refresh_token', 'offline_access', 'full'])

export function createOAuthState(options: { tokenTtlSeconds: number }): OAuthState {
  const pending = new Map<string, PendingAuthorization>()
  const sessions = new Map<string, { org: Org; user: SandboxUser }>()
  const approvals = new Set<string>()
  const codes = new Map<string, AuthCode>()
  const accessTokens = new Map<string, AccessToken>()
  const refreshTokens = new Map<string, RefreshToken>()

  const revokeAccessOf = (refresh: string) => {
    for (const t of accessTokens.values()) if (t.refreshToken === refresh) t.revoked = true
  }

  function issueTokens(grant: Grant, withRefresh: boolean, code?: string) {
    const now = Date.now()
    let refresh: RefreshToken | null = null
    if (withRefresh) {
      refresh = { ...grant, token: `5Aep861${random(60)}`, revoked: false, issuedAt: now }
      refreshTokens.set(refresh.token, refresh)
    }
    const access = makeAccess(grant, refresh?.token ?? null)
    if (code) codes.get(code)?.issued.push(access.token, ...(refresh ? [refresh.token] : []))
    return { access, refresh }
  }

  function makeAccess(grant: Grant, refreshToken: string | null): AccessToken {
    const now = Date.now()
    const access: AccessToken = {
      org: grant.org, user: grant.user, scope: grant.scope,
      token: `${grant.org.id.slice(0, 15)}!AQ${random(72)}`,
      issuedAt: now, expiresAt: now + options.tokenTtlSeconds * 1000, refreshToken, revoked: false,
    }
    accessTokens.set(access.token, access)
    return access
  }

  return {
    startAuthorization(params) {
      const p: PendingAuthorization = { id: random(24), params, login: null, confirm: random(24), expiresAt: Date.now() + PENDING_TTL_MS }
      pending.set(p.id, p)
      return p
    },
    findAuthorization(id) {
      const p = pending.get(id)
      return p && p.expiresAt > Date.now() ? p : undefined
    },
    finishAuthorization: (id) => void pending.delete(id),
    openSession(org, user) {
      const sid = random(32)
      sessions.set(sid, { org, user })
      return sid
    },
    findSession: (sid) => (sid ? sessions.get(sid) : undefined),
    isApproved: (user, clientId) => approvals.has(`${user.id}:${clientId}`),
    approve: (user, clientId) => void approvals.add(`${user.id}:${clientId}`),
    issueCode(p) {
      if (!p.login) throw new Error('authorization has no logged-in user')
      // Real codes are base64 and often end in `==`, so clients must URL-decode them once.
      const code = `aPrx${random(48)}==`
      codes.set(code, {
        ...p.login, scope: p.params.scope, code, clientId: p.params.clientId, redirectUri: p.params.redirectUri,
        challenge: p.params.codeChallenge, expiresAt: Date.now() + CODE_TTL_MS, used: false, issued: [],
      })
      return code
    },
    redeemCode(code, redirectUri, verifier) {
      const entry = codes.get(code)
      if (!entry) return { ok: false, error: 'invalid_grant', description: 'invalid authorization code' }
      if (entry.used) {
        // A replayed code is a sign of theft: revoke what it gave (RFC 6749 §4.1.2).
        for (const t of entry.issued) {
          const a = accessTokens.get(t)
          if (a) a.revoked = true
          const r = refreshTokens.get(t)
          if (r) { r.revoked = true; revokeAccessOf(r.token) }
        }
        return { ok: false, error: 'invalid_grant', description: 'invalid authorization code' }
      }
      entry.used = true
      if (entry.expiresAt <= Date.now()) return { ok: false, error: 'invalid_grant', description: 'expired authorization code' }
      if (redirectUri !== entry.redirectUri) return { ok: false, error: 'redirect_uri_mismatch', description: 'redirect_uri must match configuration' }
      if (entry.challenge !== null) {
        if (!verifier) return { ok: false, error: 'invalid_grant', description: 'invalid code verifier' }
        if (codeChallengeOf(verifier) !== entry.challenge) return { ok: false, error: 'invalid_request', description: 'invalid code verifier' }
      }
      return { ok: true, grant: { org: entry.org, user: entry.user, scope: entry.scope }, codeTokens: entry.issued }
    },
    issueTokens,
    refresh(token) {
      const r = refreshTokens.get(token)
      if (!r || r.revoked) return null
      return makeAccess(r, r.token)
    },
    revoke(token) {
      const a = accessTokens.get(token)
      // An already revoked token is as unknown as one never issued: 400 invalid_token.
      if (a && !a.revoked) { a.revoked = true; return true }
      const r = refreshTokens.get(token)
      if (r && !r.revoked) { r.revoked = true; revokeAccessOf(r.token); return true }
      return false
    },
    authenticate(token) {
      const a = accessTokens.get(token)
      if (!a || a.revoked || a.expiresAt <= Date.now()) return undefined
      return a
    },
    expireAccessTokens(orgId) {
      let n = 0
      for (const a of accessTokens.values()) {
        if (orgId && a.org.id !== orgId) continue
        if (a.expiresAt > 0) { a.expiresAt = 0; n++ }
      }
      return n
    },
    revokeRefreshTokens(filter) {
      let n = 0
      for (const r of refreshTokens.values()) {
        if (r.revoked) continue
        if (filter.token && r.token !== filter.token) continue
        if (filter.username && r.user.username !== filter.username.toLowerCase()) continue
        r.revoked = true
        revokeAccessOf(r.token)
        n++
      }
      return n
    },
  }
}
