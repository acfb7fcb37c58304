/**
 * The stand-in's admin API (contracts §7, plus user deletion): no auth, loopback only.
 * Changes made here are the dashboard's: events carry `source: "dashboard"`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { z } from 'zod'
import { parse } from './api.ts'
import type { EventSink } from './events.ts'
import { FaultSchema, type FaultBook } from './faults.ts'
import type { CohortModel, UserEvent } from './model.ts'
import { isLoopback } from '../shared/loopback.ts'

export interface AdminDeps {
  model: CohortModel
  events: EventSink
  faults: FaultBook
  calls: () => { total: number; byEndpoint: Record<string, number> }
  resetCalls: () => void
}

const MerchantBody = z.object({ id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ or -') })
const UsersBody = z.object({
  users: z.array(z.object({ email: z.string(), properties: z.record(z.string(), z.unknown()).optional() })).max(2_000_000),
  events: z.boolean().default(true),
})
const PatchBody = z.object({ properties: z.record(z.string(), z.unknown()) })
const ListQuery = z.object({
  offset: z.coerce.number<string>().int().min(0).default(0),
  limit: z.coerce.number<string>().int().min(1).max(10_000).default(100),
})

type Params = FastifyRequest<{ Params: { m: string; userId: string } }>

export function registerAdminApi(app: FastifyInstance, deps: AdminDeps): void {
  const { model, events } = deps

  app.addHook('onRequest', async (request, reply) => {
    if (request.url.startsWith('/__sandbox') && !isLoopback(request.socket.remoteAddress)) {
      return reply.code(403).send({ code: 'forbidden', message: 'the admin API answers loopback callers only' })
    }
  })

  app.post('/__sandbox/reset', async () => {
    model.reset()
    deps.faults.clear()
    deps.resetCalls()
    return { ok: true }
  })

  app.post('/__sandbox/merchants', async (request) => {
    const { id } = parse(MerchantBody, request.body)
    model.ensureMerchant(id)
    return { id }
  })

  app.post('/__sandbox/merchants/:m/users', { bodyLimit: 512 * 1024 * 1024 }, async (request: Params) => {
    const body = parse(UsersBody, request.body)
    model.ensureMerchant(request.params.m)
    if (!body.events) return { ids: model.seed(request.params.m, body.users) }
    model.validateNew(request.params.m, body.users)
    const created = body.users.map((u) => model.applyCreate(request.params.m, u.email, u.properties ?? {}, 'dashboard', { autoDefine: true }))
    await events.publish(created.map((c) => c.event))
    return { ids: created.map((c) => c.user.id) }
  })

  app.patch('/__sandbox/merchants/:m/users/:userId', async (request: Params) => {
    const body = parse(PatchBody, request.body)
    const { user, event } = model.applyUpdate(request.params.m, request.params.userId, body.properties, 'dashboard', { autoDefine: true })
    await events.publish(event ? [event] : [])
    return user
  })

  app.delete('/__sandbox/merchants/:m/users/:userId', async (request: Params) => {
    const event: UserEvent = model.applyDelete(request.params.m, request.params.userId, 'dashboard')
    await events.publish([event])
    return { ok: true }
  })

  app.get('/__sandbox/merchants/:m/users', async (request: Params) => {
    const query = parse(ListQuery, request.query)
    return model.listUsers(request.params.m, query.offset, query.limit)
  })

  app.post('/__sandbox/faults', async (request) => {
    deps.faults.add(parse(FaultSchema, request.body))
    return { pending: deps.faults.pending() }
  })

  app.delete('/__sandbox/faults', async () => {
    deps.faults.clear()
    return { pending: [] }
  })

  app.get('/__sandbox/stats', async () => {
    const stats = events.stats()
    return { calls: deps.calls(), events: { published: stats.published }, webhooks: stats.webhooks }
  })
}
