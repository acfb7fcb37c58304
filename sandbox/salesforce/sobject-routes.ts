/**
 * `sobjects`: describeGlobal, basic info, describe, and single-record create / read /
 * update / delete (201 `{ id, success, errors }`, 204 on update and delete).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { contextOf, type ApiDeps } from './api.ts'
import { createRecords, deleteRecords, lookup, updateRecords, type SaveResult } from './dml.ts'
import { notFound, SalesforceApiError } from './errors.ts'
import { describeBasic, describeGlobal, describeSObject, findSObject, type SObjectDef } from './metadata.ts'
import { readRecord } from './read.ts'

type Params = { object: string; id?: string }

function objectOf(request: FastifyRequest): SObjectDef {
  const def = findSObject((request.params as Params).object)
  if (!def) throw notFound()
  return def
}

/** Body of a single-record write: a JSON object. */
export function bodyObject(body: unknown): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new SalesforceApiError(400, 'JSON_PARSER_ERROR', 'The request body is either invalid or incomplete.')
  }
  return body as Record<string, unknown>
}

/** A failed single-record save becomes the top-level error array with status 400. */
function failSingle(result: SaveResult): never {
  const [first, ...rest] = result.errors
  const err = new SalesforceApiError(400, first?.statusCode ?? 'UNKNOWN_EXCEPTION', first?.message ?? 'unknown error', first?.fields ?? [])
  if (rest.length > 0) {
    // Salesforce lists every error of the record; keep them all in the body.
    const body = [err.body()[0]!, ...rest.map((e) => ({ message: e.message, errorCode: e.statusCode, fields: e.fields }))]
    Object.defineProperty(err, 'body', { value: () => body })
  }
  throw err
}

export function registerSObjectRoutes(api: FastifyInstance, deps: ApiDeps): void {
  const { store } = deps

  const global = async (request: FastifyRequest) => describeGlobal(contextOf(request).version)
  api.get('/:version/sobjects', global)
  api.get('/:version/sobjects/', global)

  const basic = async (request: FastifyRequest) => describeBasic(objectOf(request), contextOf(request).version)
  api.get('/:version/sobjects/:object', basic)
  api.get('/:version/sobjects/:object/', basic)

  const describe = async (request: FastifyRequest) => describeSObject(objectOf(request), contextOf(request).version)
  api.get('/:version/sobjects/:object/describe', describe)
  api.get('/:version/sobjects/:object/describe/', describe)

  const create = async (request: FastifyRequest, reply: FastifyReply) => {
    const ctx = contextOf(request)
    const def = objectOf(request)
    const tx = store.begin(ctx.org, ctx.caller)
    const [result] = createRecords(tx, [{ type: def.name, body: bodyObject(request.body) }], { allOrNone: true, lockFailures: ctx.lockFailures })
    if (!result?.success) return failSingle(result!)
    return reply.code(201).send(result)
  }
  api.post('/:version/sobjects/:object', create)
  api.post('/:version/sobjects/:object/', create)

  /** The record an URL id names: 404 NOT_FOUND; 400 ENTITY_IS_DELETED (as reference §4.5 lists it) or MALFORMED_ID. */
  const recordOf = (request: FastifyRequest) => {
    const ctx = contextOf(request)
    const def = objectOf(request)
    const found = lookup(store, ctx.org, def.name, (request.params as Params).id)
    if ('error' in found) {
      const e = found.error
      if (e.statusCode === 'INVALID_CROSS_REFERENCE_KEY') throw notFound()
      throw new SalesforceApiError(400, e.statusCode, e.message, e.fields)
    }
    return { ctx, def, record: found.record }
  }

  api.get('/:version/sobjects/:object/:id', async (request) => {
    const { ctx, def, record } = recordOf(request)
    const wanted = (request.query as { fields?: string }).fields
    let fields = def.fields
    if (wanted) {
      fields = wanted.split(',').map((name) => {
        const f = def.fieldsByLower.get(name.trim().toLowerCase())
        if (!f) throw new SalesforceApiError(400, 'INVALID_FIELD', `No such column '${name.trim()}' on entity '${def.name}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.`)
        return f
      })
    }
    return readRecord(def, record, ctx.version, fields)
  })

  api.patch('/:version/sobjects/:object/:id', async (request, reply) => {
    const { ctx, def, record } = recordOf(request)
    const tx = store.begin(ctx.org, ctx.caller)
    const [result] = updateRecords(store, ctx.org, tx, [{ type: def.name, id: record.id, body: bodyObject(request.body) }], { allOrNone: true, lockFailures: ctx.lockFailures })
    if (!result?.success) return failSingle(result!)
    return reply.code(204).send()
  })

  api.delete('/:version/sobjects/:object/:id', async (request, reply) => {
    const { ctx, record } = recordOf(request)
    const tx = store.begin(ctx.org, ctx.caller)
    const [result] = deleteRecords(store, ctx.org, tx, [record.id], { allOrNone: true, lockFailures: ctx.lockFailures })
    if (!result?.success) return failSingle(result!)
    return reply.code(204).send()
  })
}
