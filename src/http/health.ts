/** Liveness and readiness. Readiness names the part that fails. */
import type { FastifyInstance } from 'fastify'

export interface ReadinessCheck {
  name: string
  /** Resolves when the part answers; throws with the reason otherwise. */
  check: () => Promise<void>
}

export interface CheckResult {
  ok: boolean
  error?: string
}

/** Run every check at once; a check slower than `timeoutMs` fails. */
export async function runReadinessChecks(checks: ReadinessCheck[], timeoutMs = 4000): Promise<Record<string, CheckResult>> {
  const results = await Promise.all(checks.map(async ({ name, check }) => {
    let timer: NodeJS.Timeout | undefined
    try {
      await Promise.race([
        check(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
        }),
      ])
      return [name, { ok: true }] as const
    } catch (err) {
      return [name, { ok: false, error: err instanceof Error ? err.message : String(err) }] as const
    } finally {
      clearTimeout(timer)
    }
  }))
  return Object.fromEntries(results)
}

export function registerHealthRoutes(app: FastifyInstance, checks: ReadinessCheck[]): void {
  app.get('/healthz', { logLevel: 'warn' }, async () => ({ status: 'ok' }))

  app.get('/readyz', { logLevel: 'warn' }, async (request, reply) => {
    const results = await runReadinessChecks(checks)
    const failing = Object.entries(results).filter(([, r]) => !r.ok).map(([name]) => name)
    if (failing.length === 0) return { status: 'ready', checks: results }
    request.log.warn({ failing, checks: results }, 'not ready')
    const reasons = failing.map((name) => `${name}: ${results[name]?.error ?? 'failed'}`).join('; ')
    return reply.code(503).send({ status: 'not-ready', failing, checks: results, error: { code: 'unavailable', message: `not ready (${reasons})` } })
  })
}
