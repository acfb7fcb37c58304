/**
 * Authentication of dashboard and ops calls (contracts §2): `Authorization: Bearer <JWT>`,
 * HS256 with DASHBOARD_JWT_SECRET, `aud` = `salesforce-bridge`, `exp` required and at most
 * 15 minutes ahead, and either a `merchantId` claim (that merchant only) or `role: "ops"`.
 * Missing, expired or forged: 401. A merchant token on another merchant's route: 403.
 */
import type { FastifyRequest, onRequestAsyncHookHandler } from 'fastify'
import { errors as joseErrors, jwtVerify } from 'jose'
import type { Secret } from '../config.ts'
import { AppError } from '../errors.ts'

export const DASHBOARD_AUDIENCE = 'salesforce-bridge'
const MAX_LIFETIME_SECONDS = 15 * 60
const CLOCK_TOLERANCE_SECONDS = 30

/** Who is calling. `actor` names them in the audit log. */
export type Principal =
  | { kind: 'merchant'; merchantId: string; actor: string }
  | { kind: 'ops'; actor: string }

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal
  }
}

export interface DashboardAuth {
  /** Verify a token; throws `auth.invalid` with the reason. */
  verify(token: string): Promise<Principal>
  /** onRequest hook (before validation, so anonymous callers learn nothing): a token for `:merchantId` (or ops). */
  requireMerchant: onRequestAsyncHookHandler
  /** onRequest hook: an ops token. */
  requireOps: onRequestAsyncHookHandler
}

function bearer(request: FastifyRequest): string {
  const header = request.headers.authorization
  if (!header) throw new AppError('auth.missing', 'missing bearer token in the Authorization header')
  const match = /^Bearer\s+(\S+)$/i.exec(header)
  if (!match?.[1]) throw new AppError('auth.invalid', 'Authorization must be "Bearer <token>"')
  return match[1]
}

export function createDashboardAuth(secret: Secret): DashboardAuth {
  const key = new TextEncoder().encode(secret.reveal())

  async function verify(token: string): Promise<Principal> {
    let payload: Record<string, unknown>
    try {
      ;({ payload } = await jwtVerify(token, key, {
        algorithms: ['HS256'],
        audience: DASHBOARD_AUDIENCE,
        requiredClaims: ['exp'],
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
      }))
    } catch (err) {
      const reason = err instanceof joseErrors.JWTExpired ? 'token expired' : err instanceof joseErrors.JWTClaimValidationFailed ? `token claim "${err.claim}" is invalid` : 'token is invalid'
      throw new AppError('auth.invalid', reason, { cause: err })
    }
    const exp = payload.exp as number
    if (exp > Math.floor(Date.now() / 1000) + MAX_LIFETIME_SECONDS + CLOCK_TOLERANCE_SECONDS) {
      throw new AppError('auth.invalid', 'token lives longer than 15 minutes')
    }
    const subject = typeof payload.sub === 'string' && payload.sub ? payload.sub : undefined
    if (payload.role === 'ops') return { kind: 'ops', actor: subject ?? 'ops' }
    if (typeof payload.merchantId === 'string' && payload.merchantId) {
      return { kind: 'merchant', merchantId: payload.merchantId, actor: subject ?? `dashboard:${payload.merchantId}` }
    }
    throw new AppError('auth.invalid', 'token has neither a merchantId claim nor role "ops"')
  }

  return {
    verify,
    async requireMerchant(request) {
      const principal = await verify(bearer(request))
      const wanted = (request.params as { merchantId?: string } | undefined)?.merchantId
      if (principal.kind === 'merchant' && principal.merchantId !== wanted) {
        throw new AppError('auth.forbidden', 'this token is for another merchant')
      }
      request.principal = principal
    },
    async requireOps(request) {
      const principal = await verify(bearer(request))
      if (principal.kind !== 'ops') throw new AppError('auth.forbidden', 'this route needs an ops token')
      request.principal = principal
    },
  }
}
