/**
 * Liveness and readiness. Readiness names the failing part, and only that: a check's own
 * error (a driver message, a host name, an address) goes to the log, never to the anonymous
 * caller, who gets the part's name and the error code.
 */
import type { FastifyInstance } from 'fastify'
import { AppError } from '../errors.ts'
import { withTimeout } from '../retry.ts'

export interface ReadinessCheck {
  name: string
  /** Resolves when the part answers; throws otherwise. */
  check: () => Promise<void>
}

/** What a caller of /readyz learns about one part. */
export interface CheckResult {
  ok: boolean
  /** The error code when the part failed (`store.unavailable`, `timeout`, `failed`). */
  code?: string
}

export interface CheckOutcome extends CheckResult {
  /** The full reason, for the log only. */
  error?: unknown
}

/** Run every check at once; a check slower than `timeoutMs` fails with code `timeout`. */
export async function runReadinessChecks(checks: ReadinessCheck[], timeoutMs = 4000): Promise<Record<string, CheckOutcome>> {
  const results = await Promise.all(checks.map(async ({ name, check }) => {
    try {
      await withTimeout(check(), timeoutMs, () => Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'timeout' }))
      return [name, { ok: true }] as const
    } catch (err) {
      const code = err instanceof AppError ? err.code : (err as { code?: unknown }).code === 'timeout' ? 'timeout' : 'failed'
      return [name, { ok: false, code, error: err }] as const
    }
  }))
  return Object.fromEntries(results)
}

export function registerHealthRoutes(app: FastifyInstance, checks: ReadinessCheck[]): void {
  app.get('/healthz', { logLevel: 'warn' }, async () => ({ status: 'ok' }))

  app.get('/readyz', { logLevel: 'warn' }, async (request, reply) => {
    const outcomes = await runReadinessChecks(checks)
    const visible = Object.fromEntries(Object.entries(outcomes).map(([name, o]) => [name, o.ok ? { ok: true } : { ok: false, code: o.code }]))
    const failing = Object.entries(outcomes).filter(([, r]) => !r.ok).map(([name]) => name)
    if (failing.length === 0) return { status: 'ready', checks: visible }
    request.log.warn({ failing, reasons: Object.fromEntries(failing.map((name) => [name, String((outcomes[name]?.error as Error | undefined)?.message ?? outcomes[name]?.error)])) }, 'not ready')
    return reply.code(503).send({ status: 'not-ready', failing, checks: visible, error: { code: 'unavailable', message: `not ready: ${failing.join(', ')}` } })
  })
}
