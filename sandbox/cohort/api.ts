/**
 * The internal API of contracts §4, as Cohort serves it: service token, merchant in the path,
 * errors as 417 `{ code, message }` (401 bad token, 404 unknown merchant or user, 429 with
 * Retry-After, 5xx server faults).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { z } from 'zod'
import type { EventSink } from './events.ts'
import type { FaultBook } from './faults.ts'
import { CohortRefusal, type CohortModel, type UserEvent } from './model.ts'

export interface ApiDeps {
  model: CohortModel
  events: EventSink
  faults: FaultBook
  token: string
}

/** The body answered by `lose-answer` instead of the real one, by status. */
const LOST_ANSWER: Record<number, { code: string; message: string }> = {
  500: { code: 'internal', message: 'injected fault: the answer was lost after the call was carried out' },
  502: { code: 'bad-gateway', message: 'injected fault: the answer was lost after the call was carried out' },
  503: { code: 'unavailable', message: 'injected fault: the answer was lost after the call was carried out' },
  504: { code: 'timeout', message: 'injected fault: the answer was lost after the call was carried out' },
}

const STATUS_OF: Record<string, number> = {
  'auth.invalid': 401,
  'merchant.not-found': 404,
  'user.not-found': 404,
  'rate-limited': 429,
}

export function sendRefusal(reply: FastifyReply, code: string, message: string): FastifyReply {
  return reply.code(STATUS_OF[code] ?? 417).send({ code, message })
}

const LookupBody = z.object({ emails: z.array(z.string()).max(1000, 'at most 1000 emails') })
const PageQuery = z.object({
  cursor: z.string().min(1).optional(),
  limit: z.coerce.number<string>().int().min(1).max(1000, 'limit is at most 1000').default(100),
})
const Properties = z.record(z.string(), z.unknown())
const Operation = z.discriminatedUnion('op', [
  z.object({ op: z.literal('create'), email: z.string(), properties: Properties.default({}) }),
  z.object({ op: z.literal('update'), userId: z.string().min(1), properties: Properties }),
])
const BatchBody = z.object({
  source: z.enum(['salesforce', 'dashboard', 'api']).default('api'),
  operations: z.array(Operation).min(1).max(500, 'at most 500 operations'),
})
const PropertyBody = z.object({ key: z.string(), name: z.string().default(''), type: z.enum(['text', 'number', 'boolean', 'date']) })

/** Parse with zod or throw a 417 `request.invalid` naming the first problem. */
export function parse<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const result = schema.safeParse(value)
  if (result.success) return result.data
  const issue = result.error.issues[0]
  const where = issue?.path.length ? `${issue.path.join('.')}: ` : ''
  throw new CohortRefusal('request.invalid', `${where}${issue?.message ?? 'invalid request'}`)
}

type MerchantRequest = FastifyRequest<{ Params: { m: string; userId?: string } }>

export function registerInternalApi(app: FastifyInstance, deps: ApiDeps): void {
  const { model, events } = deps

  app.register(async (api) => {
    // Calls whose answer a lose-answer fault replaces, and by what status.
    const losing = new WeakMap<FastifyRequest, number>()
    api.addHook('onSend', async (request, reply, payload) => {
      const status = losing.get(request)
      if (status === undefined) return payload
      reply.code(status).header('content-type', 'application/json; charset=utf-8')
      return JSON.stringify(LOST_ANSWER[status])
    })

    api.addHook('onRequest', async (request, reply) => {
      if (request.headers.authorization !== `Bearer ${deps.token}`) return sendRefusal(reply, 'auth.invalid', 'missing or invalid service token')
      const fault = deps.faults.take(request.method, request.url.split('?')[0] ?? request.url)
      if (!fault) return
      request.log.info({ fault: fault.kind }, 'injected fault')
      switch (fault.kind) {
        case 'http-500':
          return reply.code(500).send({ code: 'internal', message: 'injected fault' })
        case 'http-503':
          return reply.code(503).send({ code: 'unavailable', message: 'injected fault' })
        case 'rate-limit':
          return reply.code(429).header('retry-after', String(fault.retryAfterSeconds)).send({ code: 'rate-limited', message: 'too many requests' })
        case 'malformed':
          return reply.code(200).send({ unexpected: true })
        case 'latency':
          await new Promise((r) => setTimeout(r, fault.latencyMs))
          return
        case 'lose-answer':
          losing.set(request, fault.status)
      }
    })

    api.addHook('preHandler', async (request: MerchantRequest, reply) => {
      if (!model.hasMerchant(request.params.m)) return sendRefusal(reply, 'merchant.not-found', `merchant "${request.params.m}" does not exist`)
    })

    api.post('/internal/merchants/:m/users/lookup', async (request: MerchantRequest) => {
      const body = parse(LookupBody, request.body)
      return { data: model.lookup(request.params.m, body.emails) }
    })

    api.get('/internal/merchants/:m/users', async (request: MerchantRequest) => {
      const query = parse(PageQuery, request.query)
      return model.page(request.params.m, query.cursor ?? null, query.limit)
    })

    api.get('/internal/merchants/:m/users/:userId', async (request: MerchantRequest, reply) => {
      const user = model.getUser(request.params.m, request.params.userId ?? '')
      return user ?? sendRefusal(reply, 'user.not-found', `user "${request.params.userId}" does not exist`)
    })

    api.post('/internal/merchants/:m/users/batch', async (request: MerchantRequest) => {
      const body = parse(BatchBody, request.body)
      const published: UserEvent[] = []
      const results = body.operations.map((op) => {
        try {
          const done = op.op === 'create'
            ? model.applyCreate(request.params.m, op.email, op.properties, body.source)
            : model.applyUpdate(request.params.m, op.userId, op.properties, body.source)
          if (done.event) published.push(done.event)
          return { ok: true as const, user: done.user }
        } catch (err) {
          if (!(err instanceof CohortRefusal)) throw err
          return { ok: false as const, code: err.code, message: err.message }
        }
      })
      await events.publish(published)
      return { results }
    })

    api.get('/internal/merchants/:m/user-properties', async (request: MerchantRequest) => ({ data: model.listProperties(request.params.m) }))

    api.post('/internal/merchants/:m/user-properties', async (request: MerchantRequest, reply) => {
      const body = parse(PropertyBody, request.body)
      return reply.code(201).send(model.defineProperty(request.params.m, body))
    })
  })
}
