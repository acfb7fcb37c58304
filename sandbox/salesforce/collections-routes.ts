/**
 * sObject Collections (`/composite/sobjects`): create (POST), update (PATCH), delete (DELETE)
 * of up to 200 records with per-record results and `allOrNone`, and retrieve (GET with
 * `ids`/`fields`, or POST `{ ids, fields }`).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { contextOf, type ApiDeps } from './api.ts'
import { createRecords, deleteRecords, updateRecords } from './dml.ts'
import { SalesforceApiError } from './errors.ts'
import { normaliseId } from './ids.ts'
import { findSObject } from './metadata.ts'
import { readRecord } from './read.ts'
import { recordFaultHook } from './record-faults.ts'

const MAX_RECORDS = 200

const tooMany = () =>
  new SalesforceApiError(400, 'EXCEEDED_ID_LIMIT', 'record limit reached. cannot submit more than 200 records into this call')

interface CollectionBody { allOrNone?: unknown; records?: unknown }

function recordsOf(body: unknown): { allOrNone: boolean; records: Record<string, unknown>[] } {
  const b = (body ?? {}) as CollectionBody
  if (typeof body !== 'object' || body === null || !Array.isArray(b.records)) {
    throw new SalesforceApiError(400, 'JSON_PARSER_ERROR', 'The request body is either invalid or incomplete.')
  }
  if (b.records.length > MAX_RECORDS) throw tooMany()
  if (b.records.some((r) => r === null || typeof r !== 'object' || Array.isArray(r))) {
    throw new SalesforceApiError(400, 'JSON_PARSER_ERROR', 'The request body is either invalid or incomplete.')
  }
  return { allOrNone: b.allOrNone === true || b.allOrNone === 'true', records: b.records as Record<string, unknown>[] }
}

function typeOf(record: Record<string, unknown>): string | undefined {
  const attributes = record.attributes as { type?: unknown } | undefined
  return typeof attributes?.type === 'string' ? attributes.type : undefined
}

export function registerCollectionRoutes(api: FastifyInstance, deps: ApiDeps): void {
  const { store } = deps
  const recordFaults = (request: FastifyRequest) => {
    const hook = recordFaultHook(deps.faults, request.method, request.url.split('?')[0] ?? request.url)
    return hook ? { recordFaults: hook } : {}
  }

  api.post('/:version/composite/sobjects', async (request) => {
    const ctx = contextOf(request)
    const { allOrNone, records } = recordsOf(request.body)
    const tx = store.begin(ctx.org, ctx.caller)
    return createRecords(tx, records.map((r) => ({ type: typeOf(r), body: r })), { allOrNone, lockFailures: ctx.lockFailures, ...recordFaults(request) })
  })

  api.patch('/:version/composite/sobjects', async (request) => {
    const ctx = contextOf(request)
    const { allOrNone, records } = recordsOf(request.body)
    const tx = store.begin(ctx.org, ctx.caller)
    const items = records.map((r) => ({ type: typeOf(r), id: r.id ?? r.Id, body: r }))
    return updateRecords(store, ctx.org, tx, items, { allOrNone, lockFailures: ctx.lockFailures, ...recordFaults(request) })
  })

  api.delete('/:version/composite/sobjects', async (request) => {
    const ctx = contextOf(request)
    const q = request.query as { ids?: string; allOrNone?: string }
    const ids = (q.ids ?? '').split(',').map((s) => s.trim()).filter(Boolean)
    if (ids.length === 0) throw new SalesforceApiError(400, 'MISSING_ARGUMENT', 'ids parameter is required')
    if (ids.length > MAX_RECORDS) throw tooMany()
    const tx = store.begin(ctx.org, ctx.caller)
    return deleteRecords(store, ctx.org, tx, ids, { allOrNone: q.allOrNone === 'true', lockFailures: ctx.lockFailures, ...recordFaults(request) })
  })

  const retrieve = (request: FastifyRequest, ids: unknown, fieldNames: unknown, maxIds: number) => {
    const ctx = contextOf(request)
    const def = findSObject((request.params as { object: string }).object)
    if (!def) throw new SalesforceApiError(404, 'NOT_FOUND', 'The requested resource does not exist')
    if (!Array.isArray(ids) || ids.length === 0) throw new SalesforceApiError(400, 'MISSING_ARGUMENT', 'ids parameter is required')
    if (!Array.isArray(fieldNames) || fieldNames.length === 0) throw new SalesforceApiError(400, 'MISSING_ARGUMENT', 'fields parameter is required')
    if (ids.length > maxIds) throw tooMany()
    const fields = fieldNames.map((name) => {
      const f = def.fieldsByLower.get(String(name).trim().toLowerCase())
      if (!f) throw new SalesforceApiError(400, 'INVALID_FIELD', `No such column '${String(name).trim()}' on sobject of type ${def.name}`)
      return f
    })
    return ids.map((raw) => {
      const id = typeof raw === 'string' ? normaliseId(raw.trim()) : null
      const record = id && id.startsWith(def.keyPrefix) ? store.find(ctx.org, def.name, id) : undefined
      return record && !record.deleted ? readRecord(def, record, ctx.version, fields) : null
    })
  }

  api.get('/:version/composite/sobjects/:object', async (request) => {
    const q = request.query as { ids?: string; fields?: string }
    const split = (v: string | undefined) => (v ? v.split(',').filter(Boolean) : [])
    return retrieve(request, split(q.ids), split(q.fields), 800)
  })

  api.post('/:version/composite/sobjects/:object', async (request) => {
    const body = (request.body ?? {}) as { ids?: unknown; fields?: unknown }
    return retrieve(request, body.ids, body.fields, 2000)
  })
}
