/**
 * The per-record errors of a merchant (contracts §2): `GET …/errors?cursor&limit` (open ones,
 * newest first), `POST …/errors/:id/retry` and `POST …/errors/retry` (every open one), with the
 * dashboard JWT. Retrying sends the change again (retry.ts).
 */
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { AppError } from '../errors.ts'
import type { DashboardAuth } from '../http/index.ts'
import type { Services } from '../services.ts'
import type { RecordError } from '../store/index.ts'
import { retryErrors } from './retry.ts'

const MerchantParams = z.object({ merchantId: z.string().min(1).max(128) })
const ErrorParams = MerchantParams.extend({ id: z.string().min(1).max(128) })
const PageQuery = z.object({ cursor: z.string().optional(), limit: z.coerce.number<string>().int().min(1).max(1000).optional() })

const view = (e: RecordError) => ({ id: e.id, direction: e.direction, recordId: e.recordId, userId: e.userId, email: e.email, code: e.code, message: e.message, at: e.at.toISOString(), attempts: e.attempts })

/** Registered inside the settings routes' scope (its CORS), see src/app.ts. */
export function registerErrorRoutes(app: FastifyInstance, deps: Services & { auth: DashboardAuth }): void {
  const routes = app.withTypeProvider<ZodTypeProvider>()
  const base = '/v1/merchants/:merchantId/salesforce/errors'
  const guarded = { onRequest: deps.auth.requireMerchant }

  routes.get(base, { ...guarded, schema: { params: MerchantParams, querystring: PageQuery, tags: ['errors'] } }, async (request) => {
    const page = await deps.store.listErrors(request.params.merchantId, { cursor: request.query.cursor ?? null, limit: request.query.limit ?? 50 })
    return { data: page.data.map(view), nextCursor: page.nextCursor }
  })

  routes.post(`${base}/:id/retry`, { ...guarded, schema: { params: ErrorParams, tags: ['errors'] } }, async (request) => {
    const { merchantId, id } = request.params
    const error = await deps.store.getError(merchantId, id)
    if (!error || error.resolvedAt !== null) throw new AppError('not-found', `no open error ${id}`)
    return retryErrors(deps, merchantId, [error])
  })

  routes.post(`${base}/retry`, { ...guarded, schema: { params: MerchantParams, tags: ['errors'] } }, async (request) => {
    const { merchantId } = request.params
    const all: RecordError[] = []
    let cursor: string | null = null
    do {
      const page = await deps.store.listErrors(merchantId, { cursor, limit: 1000 })
      all.push(...page.data)
      cursor = page.nextCursor
    } while (cursor !== null && all.length < 100_000)
    return retryErrors(deps, merchantId, all)
  })
}
