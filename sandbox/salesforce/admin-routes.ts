/**
 * The admin API of contracts §7 and §8 (JSON, no auth, loopback only): reset, records as the
 * UI user (`?org=N` for org N), faults, the streaming restore, the CDC selection and stats.
 * Errors are `{ error: { code, message } }`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { z } from 'zod'
import { createRecords, lookup, updateRecords } from './dml.ts'
import { SalesforceApiError } from './errors.ts'
import { COLLECTION_WRITES, FaultSchema, type Fault, type FaultBook } from './faults.ts'
import type { ApiUsage } from './limits.ts'
import { findSObject, type SObjectDef } from './metadata.ts'
import type { OAuthState } from './oauth.ts'
import type { Org, OrgDirectory } from './orgs.ts'
import { readRecord } from './read.ts'
import type { Caller, RecordStore } from './records.ts'
import { LATEST_VERSION } from './api.ts'
import { channelOf, entityOfChannel, type CdcPublisher, type CdcSelection } from './cdc.ts'
import type { Streaming } from './cometd.ts'
import type { EventBus } from './event-bus.ts'
import { applyStreamingFault, isStreamingFault, restoreStreaming } from './streaming-faults.ts'
import { isLoopback } from '../shared/loopback.ts'

export interface AdminDeps {
  store: RecordStore
  oauth: OAuthState
  usage: ApiUsage
  faults: FaultBook
  reset(): void
  streaming: Streaming
  bus: EventBus
  cdc: CdcPublisher
  selection: CdcSelection
  orgs: OrgDirectory
}

/** Seeding a million records goes through this route, so it takes large bodies. */
const SEED_BODY_LIMIT = 1024 * 1024 * 1024

const CreateBody = z.object({ records: z.array(z.record(z.string(), z.unknown())).min(1), events: z.boolean().default(true) })
const UpdateBody = z.object({ fields: z.record(z.string(), z.unknown()) })
const PublishBody = z.object({
  channel: z.string().regex(/^\/[\w./-]+$/, 'a channel name such as /data/ContactChangeEvent or /event/Thing__e'),
  payload: z.record(z.string(), z.unknown()),
})
const EventsBody = z.object({
  kind: z.enum(['gap', 'overflow']),
  object: z.string().min(1),
  recordIds: z.array(z.string().min(1)).max(10_000).default([]),
  changeType: z.enum(['CREATE', 'UPDATE', 'DELETE', 'UNDELETE', 'GAP_CREATE', 'GAP_UPDATE', 'GAP_DELETE', 'GAP_UNDELETE', 'GAP_OVERFLOW']).default('UPDATE'),
})
const CdcBody = z.object({
  object: z.string().min(1),
  enabled: z.boolean(),
  /** Default: the `?org=` of the call, else org 1. */
  org: z.number().int().min(1).optional(),
})
const PageQuery = z.object({
  offset: z.coerce.number<string>().int().min(0).default(0),
  limit: z.coerce.number<string>().int().min(1).max(10_000).default(100),
  deleted: z.enum(['true', 'false']).default('false'),
})

class AdminError extends Error {
  readonly status: number
  readonly code: string
  readonly details: unknown
  constructor(status: number, code: string, message: string, details?: unknown) {
    super(message)
    this.status = status
    this.code = code
    this.details = details
  }
}

function parse<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const result = schema.safeParse(value)
  if (result.success) return result.data
  const issue = result.error.issues[0]
  throw new AdminError(400, 'invalid-request', `${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`)
}


/** Apply the faults that act at once; the others wait in the book for matching calls. */
export function applyFault(fault: Fault, deps: Pick<AdminDeps, 'oauth' | 'faults' | 'streaming' | 'bus' | 'orgs'>): { queued: boolean; affected?: number } {
  const org = fault.org === undefined ? undefined : deps.orgs.byNumber(fault.org)
  if (fault.org !== undefined && !org) throw new AdminError(400, 'invalid-request', `org: this stand-in serves orgs 1 to ${deps.orgs.list.length}`)
  const orgId = org?.id
  if (fault.kind === 'expire-tokens') return { queued: false, affected: deps.oauth.expireAccessTokens(orgId) }
  if (fault.kind === 'revoke-refresh-token') return { queued: false, affected: deps.oauth.revokeRefreshTokens({ token: fault.token, username: fault.username }) }
  if (isStreamingFault(fault.kind)) {
    const outcome = applyStreamingFault({ ...fault, kind: fault.kind, ...(orgId ? { orgId } : {}) }, deps)
    return { queued: false, ...outcome }
  }
  if (fault.kind === 'bulk-query-failed' && fault.match === undefined) fault = { ...fault, match: '/^POST \\/services\\/data\\/v[\\d.]+\\/jobs\\/query\\/?$/' }
  if (fault.kind === 'record-error' && fault.match === undefined) fault = { ...fault, match: COLLECTION_WRITES }
  deps.faults.add(fault)
  return { queued: true }
}

export function registerAdminRoutes(app: FastifyInstance, deps: AdminDeps): void {
  const { store } = deps

  app.register(async (admin) => {
    admin.addHook('onRequest', async (request) => {
      if (!isLoopback(request.socket.remoteAddress)) throw new AdminError(403, 'forbidden', 'the admin API answers loopback callers only')
    })
    admin.setErrorHandler((err, _request, reply: FastifyReply) => {
      if (err instanceof AdminError) return reply.code(err.status).send({ error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } })
      if (err instanceof SalesforceApiError) return reply.code(400).send({ error: { code: err.errorCode, message: err.message } })
      const status = (err as { statusCode?: number }).statusCode ?? 500
      return reply.code(status).send({ error: { code: status < 500 ? 'invalid-request' : 'internal', message: (err as Error).message } })
    })

    const orgNumbered = (number: number | undefined): Org => {
      const org = deps.orgs.byNumber(number ?? 1)
      if (!org) throw new AdminError(400, 'invalid-request', `org must be 1 to ${deps.orgs.list.length}`)
      return org
    }
    const orgOf = (request: FastifyRequest): Org => {
      const org = (request.query as { org?: string }).org
      if (org === undefined) return orgNumbered(1)
      if (!/^\d{1,4}$/.test(org)) throw new AdminError(400, 'invalid-request', `org must be 1 to ${deps.orgs.list.length}`)
      return orgNumbered(Number(org))
    }
    const requireSelected = (org: Org, def: SObjectDef) => {
      if (!deps.selection.isSelected(org.id, def.name)) {
        throw new AdminError(409, 'cdc-not-selected', `${def.name} is not selected for Change Data Capture in org ${org.number} (POST /__sandbox/cdc selects it)`)
      }
    }
    const objectOf = (request: FastifyRequest): SObjectDef => {
      const def = findSObject((request.params as { object: string }).object)
      if (!def) throw new AdminError(404, 'not-found', `unknown object ${(request.params as { object: string }).object}`)
      return def
    }
    const uiCaller = (org: Org): Caller => ({ user: org.uiUser, kind: 'ui' })
    const recordOf = (request: FastifyRequest, org: Org, def: SObjectDef, allowDeleted = false) => {
      const found = lookup(store, org, def.name, (request.params as { id: string }).id)
      if ('error' in found) {
        if (allowDeleted && found.error.statusCode === 'ENTITY_IS_DELETED' && found.id) return store.find(org, def.name, found.id)!
        throw new AdminError(found.error.statusCode === 'MALFORMED_ID' ? 400 : 404, found.error.statusCode, found.error.message)
      }
      return found.record
    }

    admin.post('/__sandbox/reset', async () => {
      deps.reset()
      return { ok: true }
    })

    admin.post('/__sandbox/records/:object', { bodyLimit: SEED_BODY_LIMIT }, async (request, reply) => {
      const org = orgOf(request)
      const def = objectOf(request)
      const body = parse(CreateBody, request.body)
      const tx = store.begin(org, uiCaller(org), { publish: body.events })
      const results = createRecords(tx, body.records.map((r) => ({ type: def.name, body: r })), { allOrNone: true, admin: true })
      // All or none: the first record with its own error explains the refusal.
      const index = results.findIndex((r) => r.errors.some((e) => e.statusCode !== 'ALL_OR_NONE_OPERATION_ROLLED_BACK'))
      if (index >= 0) {
        const errors = results[index]!.errors
        throw new AdminError(400, errors[0]!.statusCode, `records[${index}]: ${errors[0]!.message}`, { index, errors })
      }
      return reply.code(201).send({ ids: results.map((r) => r.id) })
    })

    admin.patch('/__sandbox/records/:object/:id', async (request, reply) => {
      const org = orgOf(request)
      const def = objectOf(request)
      const record = recordOf(request, org, def)
      const body = parse(UpdateBody, request.body)
      const [result] = updateRecords(store, org, store.begin(org, uiCaller(org)), [{ type: def.name, id: record.id, body: body.fields }], { allOrNone: true, admin: true })
      if (!result?.success) throw new AdminError(400, result!.errors[0]!.statusCode, result!.errors[0]!.message, { errors: result!.errors })
      return reply.code(200).send({ id: record.id })
    })

    admin.delete('/__sandbox/records/:object/:id', async (request) => {
      const org = orgOf(request)
      const def = objectOf(request)
      const record = recordOf(request, org, def)
      store.begin(org, uiCaller(org)).delete(def, record)
      return { id: record.id }
    })

    admin.post('/__sandbox/records/:object/:id/undelete', async (request) => {
      const org = orgOf(request)
      const def = objectOf(request)
      const record = recordOf(request, org, def, true)
      if (!record.deleted) throw new AdminError(409, 'UNDELETE_FAILED', 'entity is not in the recycle bin')
      store.begin(org, uiCaller(org)).undelete(def, record)
      return { id: record.id }
    })

    admin.get('/__sandbox/records/:object', async (request) => {
      const org = orgOf(request)
      const def = objectOf(request)
      const q = parse(PageQuery, request.query)
      const withDeleted = q.deleted === 'true'
      const records: Record<string, unknown>[] = []
      let total = 0
      for (const r of store.table(org, def.name).values()) {
        if (r.deleted && !withDeleted) continue
        if (total >= q.offset && records.length < q.limit) records.push(readRecord(def, r, LATEST_VERSION))
        total++
      }
      return { records, total }
    })

    admin.post('/__sandbox/faults', async (request, reply) => {
      const fault = parse(FaultSchema, request.body)
      const outcome = applyFault(fault, deps)
      return reply.code(201).send({ fault, ...outcome })
    })
    admin.get('/__sandbox/faults', async () => ({ faults: deps.faults.pending() }))
    admin.delete('/__sandbox/faults', async () => {
      deps.faults.clear()
      return { ok: true }
    })

    admin.post('/__sandbox/streaming/restore', async () => {
      restoreStreaming(deps)
      return { ok: true }
    })

    admin.post('/__sandbox/cdc', async (request) => {
      const body = parse(CdcBody, request.body)
      const org = body.org === undefined ? orgOf(request) : orgNumbered(body.org)
      const def = findSObject(body.object)
      if (!def) throw new AdminError(404, 'not-found', `unknown object ${body.object}`)
      deps.selection.select(org.id, def.name, body.enabled)
      return { org: org.number, object: def.name, channel: channelOf(def.name), enabled: body.enabled, selected: deps.selection.selected(org.id) }
    })
    admin.get('/__sandbox/cdc', async (request) => {
      const org = orgOf(request)
      return { org: org.number, selected: deps.selection.selected(org.id) }
    })

    admin.get('/__sandbox/stats', async () => ({
      apiCalls: deps.usage.stats(),
      cometd: { clients: deps.streaming.clients(), held: deps.streaming.held() },
      events: { published: deps.bus.published() },
    }))

    admin.post('/__sandbox/publish', async (request, reply) => {
      const org = orgOf(request)
      const body = parse(PublishBody, request.body)
      const entity = entityOfChannel(body.channel)
      if (entity) requireSelected(org, entity)
      const replayId = deps.cdc.publishRaw(org.id, body.channel, body.payload)
      return reply.code(201).send({ channel: body.channel, replayId })
    })

    admin.post('/__sandbox/events', async (request, reply) => {
      const org = orgOf(request)
      const body = parse(EventsBody, request.body)
      const def = findSObject(body.object)
      if (!def) throw new AdminError(404, 'not-found', `unknown object ${body.object}`)
      if (body.kind === 'gap' && body.recordIds.length === 0) throw new AdminError(400, 'invalid-request', 'recordIds: a gap event names at least one record')
      requireSelected(org, def)
      const replayId = deps.cdc.publishGap({
        orgId: org.id, def, kind: body.kind, recordIds: body.recordIds, changeType: body.changeType, commitUser: org.uiUser.id,
      })
      return reply.code(201).send({ replayId })
    })
  })
}
