/**
 * `query` and `queryAll`: SOQL over the store, answered in pages of `batchSize`
 * (`Sforce-Query-Options`, 200–2000, default 2000) with `nextRecordsUrl` locators that
 * expire after 15 idle minutes.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { contextOf, type ApiDeps } from './api.ts'
import { SalesforceApiError } from './errors.ts'
import type { FieldDef } from './fields.ts'
import { makeId } from './ids.ts'
import type { SObjectDef } from './metadata.ts'
import { readRecord } from './read.ts'
import type { StoredRecord } from './records.ts'
import { planQuery } from './soql-eval.ts'

interface Cursor {
  orgId: string
  def: SObjectDef
  fields: FieldDef[]
  records: StoredRecord[]
  batchSize: number
  lastUsed: number
}

export interface QueryCursors {
  open(cursor: Omit<Cursor, 'lastUsed'>): string
  get(locator: string, orgId: string): Cursor | undefined
  clear(): void
}

const IDLE_MS = 15 * 60_000
const MAX_CURSORS = 500

export function createQueryCursors(): QueryCursors {
  const cursors = new Map<string, Cursor>()
  let counter = 0
  return {
    open(cursor) {
      const now = Date.now()
      for (const [k, c] of cursors) if (c.lastUsed + IDLE_MS < now || cursors.size >= MAX_CURSORS) cursors.delete(k)
      const locator = makeId('01g', '5g', ++counter)
      cursors.set(locator, { ...cursor, lastUsed: now })
      return locator
    },
    get(locator, orgId) {
      const c = cursors.get(locator)
      if (!c || c.orgId !== orgId || c.lastUsed + IDLE_MS < Date.now()) return undefined
      c.lastUsed = Date.now()
      return c
    },
    clear: () => cursors.clear(),
  }
}

function batchSizeOf(request: FastifyRequest): number {
  const m = /batchSize\s*=\s*(\d+)/i.exec(String(request.headers['sforce-query-options'] ?? ''))
  if (!m) return 2000
  return Math.min(2000, Math.max(200, Number(m[1])))
}

export function registerQueryRoutes(api: FastifyInstance, deps: ApiDeps): void {
  const page = (request: FastifyRequest, resource: string, cursor: Cursor, locator: string, start: number) => {
    const ctx = contextOf(request)
    const end = Math.min(cursor.records.length, start + cursor.batchSize)
    const records = cursor.records.slice(start, end).map((r) => readRecord(cursor.def, r, ctx.version, cursor.fields))
    const done = end >= cursor.records.length
    return {
      totalSize: cursor.records.length,
      done,
      ...(done ? {} : { nextRecordsUrl: `/services/data/v${ctx.version}/${resource}/${locator}-${end}` }),
      records,
    }
  }

  const run = (resource: 'query' | 'queryAll') => async (request: FastifyRequest) => {
    const ctx = contextOf(request)
    const q = (request.query as { q?: string }).q
    if (!q) throw new SalesforceApiError(400, 'MALFORMED_QUERY', 'A query string has to be specified')
    const plan = planQuery(q)
    const rows: StoredRecord[] = []
    for (const r of deps.store.table(ctx.org, plan.def.name).values()) {
      if ((resource === 'query' && r.deleted) || !plan.matches(r)) continue
      rows.push(r)
    }
    let selected = plan.sort(rows)
    if (plan.offset > 0 || plan.limit !== null) selected = selected.slice(plan.offset, plan.limit === null ? undefined : plan.offset + plan.limit)
    if (plan.fields === null) return { totalSize: selected.length, done: true, records: [] }
    const cursor = { orgId: ctx.org.id, def: plan.def, fields: plan.fields, records: selected, batchSize: batchSizeOf(request) }
    const locator = selected.length > cursor.batchSize ? deps.cursors.open(cursor) : ''
    return page(request, resource, { ...cursor, lastUsed: Date.now() }, locator, 0)
  }

  const more = (resource: 'query' | 'queryAll') => async (request: FastifyRequest) => {
    const ctx = contextOf(request)
    const m = /^(01g[a-zA-Z0-9]{15})-(\d+)$/.exec((request.params as { locator: string }).locator)
    const cursor = m ? deps.cursors.get(m[1]!, ctx.org.id) : undefined
    if (!m || !cursor) throw new SalesforceApiError(400, 'INVALID_QUERY_LOCATOR', 'invalid query locator')
    return page(request, resource, cursor, m[1]!, Number(m[2]))
  }

  for (const resource of ['query', 'queryAll'] as const) {
    api.get(`/:version/${resource}`, run(resource))
    api.get(`/:version/${resource}/`, run(resource))
    api.get(`/:version/${resource}/:locator`, more(resource))
  }
}
