/**
 * Bulk API 2.0 query jobs under `/services/data/vXX.X/jobs/query` (API calls like any other):
 * create (`query` / `queryAll`), status, abort, delete, list, and `results` as CSV pages with
 * `Sforce-Locator` / `Sforce-NumberOfRecords`.
 *
 * The query runs when the job is created (the matching records are fixed then; their values
 * are read when a page is written). States move UploadComplete → InProgress → JobComplete,
 * one step per status read once the state's minimum time has passed, so a poller sees each
 * state; the `bulk-query-failed` fault ends a job in `Failed` instead.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { contextOf } from './api.ts'
import { COLUMN_DELIMITERS, csvRow, LINE_ENDINGS, type ColumnDelimiter, type LineEnding } from './csv.ts'
import { notFound, SalesforceApiError } from './errors.ts'
import type { FieldDef } from './fields.ts'
import type { ApiUsage } from './limits.ts'
import { makeId } from './ids.ts'
import type { SObjectDef } from './metadata.ts'
import type { Org } from './orgs.ts'
import { rawValue } from './read.ts'
import type { RecordStore, StoredRecord } from './records.ts'
import { planQuery } from './soql-eval.ts'
import { formatDateTime } from './values.ts'

export type JobState = 'UploadComplete' | 'InProgress' | 'JobComplete' | 'Failed' | 'Aborted'

export interface Bulk2Options {
  /** Rows per results page when `maxRecords` is not given. Default 50000 (contracts §7). */
  pageSize: number
  /** Least time in UploadComplete and in InProgress, in ms. Default 0 and 0. */
  queuedMs: number
  processingMs: number
}

interface QueryJob {
  id: string
  orgId: string
  operation: 'query' | 'queryAll'
  def: SObjectDef
  fields: FieldDef[]
  records: StoredRecord[]
  createdById: string
  createdAt: number
  modifiedAt: number
  state: JobState
  apiVersion: string
  columnDelimiter: ColumnDelimiter
  lineEnding: LineEnding
  fail: boolean
}

export interface Bulk2Jobs {
  create(job: QueryJob): void
  get(id: string, orgId: string): QueryJob | undefined
  list(orgId: string): QueryJob[]
  delete(id: string): void
  nextId(org: Org): string
  clear(): void
}

const MAX_JOBS = 500
const MIN_VERSION = 47
const TERMINAL = new Set<JobState>(['JobComplete', 'Failed', 'Aborted'])

export function createBulk2Jobs(): Bulk2Jobs {
  const jobs = new Map<string, QueryJob>()
  let counter = 0
  return {
    create(job) {
      // Keep memory bounded: the oldest finished jobs go first (Salesforce deletes them after 7 days).
      if (jobs.size >= MAX_JOBS) {
        for (const [id, j] of jobs) {
          if (TERMINAL.has(j.state)) jobs.delete(id)
          if (jobs.size < MAX_JOBS) break
        }
      }
      jobs.set(job.id, job)
    },
    get(id, orgId) {
      const job = jobs.get(id) ?? jobs.get(id.slice(0, 15)) ?? [...jobs.values()].find((j) => j.id.slice(0, 15) === id)
      return job && job.orgId === orgId ? job : undefined
    },
    list: (orgId) => [...jobs.values()].filter((j) => j.orgId === orgId),
    delete: (id) => void jobs.delete(id),
    nextId: (org) => makeId('750', org.pod, ++counter),
    clear: () => jobs.clear(),
  }
}

const jobError = (status: number, errorCode: string, message: string) => new SalesforceApiError(status, errorCode, message)

/** `2024-05-29T17:00:00.000+0000`. */
const stamp = (ms: number) => formatDateTime(ms)

function jobInfo(job: QueryJob, full: boolean): Record<string, unknown> {
  const info: Record<string, unknown> = {
    id: job.id, operation: job.operation, object: job.def.name, createdById: job.createdById,
    createdDate: stamp(job.createdAt), systemModstamp: stamp(job.modifiedAt), state: job.state,
    concurrencyMode: 'Parallel', contentType: 'CSV', apiVersion: Number(job.apiVersion),
    lineEnding: job.lineEnding, columnDelimiter: job.columnDelimiter,
  }
  if (!full) return info
  return {
    ...info, jobType: 'V2Query',
    numberRecordsProcessed: job.state === 'JobComplete' ? job.records.length : 0,
    retries: 0, totalProcessingTime: job.state === 'JobComplete' ? Math.max(1, job.modifiedAt - job.createdAt) : 0,
    isPkChunkingSupported: true,
    ...(job.state === 'Failed' ? { errorMessage: 'Query job failed: internal error (injected fault)' } : {}),
  }
}

/** One status read: the job moves one state forward when its minimum time has passed. */
function advance(job: QueryJob, options: Bulk2Options): void {
  const now = Date.now()
  if (job.state === 'UploadComplete' && now - job.modifiedAt >= options.queuedMs) {
    job.state = 'InProgress'
    job.modifiedAt = now
  } else if (job.state === 'InProgress' && now - job.modifiedAt >= options.processingMs) {
    job.state = job.fail ? 'Failed' : 'JobComplete'
    job.modifiedAt = now
  }
}

/** A field's value as Bulk API 2.0 writes it in CSV. */
function csvValue(def: SObjectDef, field: FieldDef, r: StoredRecord): string | null {
  const v = rawValue(def, field, r)
  if (v === null || v === undefined) return null
  if (field.type === 'datetime' && typeof v === 'number') return new Date(v).toISOString()
  return String(v)
}

const encodeLocator = (offset: number) => Buffer.from(String(offset)).toString('base64url')
function decodeLocator(locator: string): number | null {
  const text = Buffer.from(locator, 'base64url').toString()
  return /^\d+$/.test(text) && encodeLocator(Number(text)) === locator ? Number(text) : null
}

interface CreateBody { operation?: unknown; query?: unknown; contentType?: unknown; columnDelimiter?: unknown; lineEnding?: unknown }

export function registerBulk2Routes(api: FastifyInstance, deps: { store: RecordStore; bulkJobs: Bulk2Jobs; bulkOptions: Bulk2Options; usage: ApiUsage }): void {
  const { bulkJobs: jobs, bulkOptions: options } = deps

  const jobOf = (request: FastifyRequest): QueryJob => {
    const job = jobs.get((request.params as { jobId: string }).jobId, contextOf(request).org.id)
    if (!job) throw notFound()
    return job
  }

  const create = async (request: FastifyRequest, reply: FastifyReply) => {
    const ctx = contextOf(request)
    const body = (request.body ?? {}) as CreateBody
    if (typeof body !== 'object' || Array.isArray(body)) throw jobError(400, 'InvalidJob', 'Invalid job specification: the body must be a JSON object')
    if (body.operation !== 'query' && body.operation !== 'queryAll') {
      throw jobError(400, 'InvalidJob', `Invalid value for operation: ${String(body.operation ?? '')}. Use query or queryAll.`)
    }
    if (typeof body.query !== 'string' || body.query.trim() === '') throw jobError(400, 'InvalidJob', 'Invalid job specification: query is required')
    if (body.contentType !== undefined && body.contentType !== 'CSV') throw jobError(400, 'InvalidJob', `Invalid value for contentType: ${String(body.contentType)}. Only CSV is supported.`)
    const columnDelimiter = (body.columnDelimiter ?? 'COMMA') as ColumnDelimiter
    if (!(columnDelimiter in COLUMN_DELIMITERS)) throw jobError(400, 'InvalidJob', `Invalid value for columnDelimiter: ${String(columnDelimiter)}`)
    const lineEnding = (body.lineEnding ?? 'LF') as LineEnding
    if (!(lineEnding in LINE_ENDINGS)) throw jobError(400, 'InvalidJob', `Invalid value for lineEnding: ${String(lineEnding)}`)

    const plan = planQuery(body.query)
    if (plan.fields === null) throw jobError(400, 'API_ERROR', 'Aggregate queries (COUNT()) are not supported by Bulk API 2.0 query')
    if (plan.offset > 0) throw jobError(400, 'API_ERROR', 'OFFSET is not supported by Bulk API 2.0 query')
    const compound = plan.fields.find((f) => f.type === 'address')
    if (compound) throw jobError(400, 'API_ERROR', `Compound address fields are not supported by Bulk API 2.0 query: ${compound.name}. Query its components instead.`)

    const records: StoredRecord[] = []
    for (const r of deps.store.table(ctx.org, plan.def.name).values()) {
      if ((body.operation === 'query' && r.deleted) || !plan.matches(r)) continue
      records.push(r)
    }
    let selected = plan.sort(records)
    if (plan.limit !== null) selected = selected.slice(0, plan.limit)
    const now = Date.now()
    const job: QueryJob = {
      id: jobs.nextId(ctx.org), orgId: ctx.org.id, operation: body.operation, def: plan.def, fields: plan.fields, records: selected,
      createdById: ctx.user.id, createdAt: now, modifiedAt: now, state: 'UploadComplete', apiVersion: ctx.version,
      columnDelimiter, lineEnding, fail: ctx.bulkFailure,
    }
    jobs.create(job)
    deps.usage.bulkQueryJob(ctx.org.id)
    return reply.code(200).send(jobInfo(job, false))
  }

  const status = async (request: FastifyRequest) => {
    const job = jobOf(request)
    advance(job, options)
    return jobInfo(job, true)
  }

  const abort = async (request: FastifyRequest) => {
    const job = jobOf(request)
    const state = (request.body as { state?: unknown } | undefined)?.state
    if (state !== 'Aborted') throw jobError(400, 'InvalidJob', `Invalid state: ${String(state ?? '')}. A query job can only be set to Aborted.`)
    if (TERMINAL.has(job.state)) throw jobError(400, 'InvalidJobState', `Job is in the terminal state ${job.state} and can't be aborted`)
    job.state = 'Aborted'
    job.modifiedAt = Date.now()
    return jobInfo(job, false)
  }

  const remove = async (request: FastifyRequest, reply: FastifyReply) => {
    const job = jobOf(request)
    if (!TERMINAL.has(job.state)) throw jobError(400, 'InvalidJobState', `Job is in state ${job.state}; only a job in JobComplete, Aborted or Failed can be deleted`)
    jobs.delete(job.id)
    return reply.code(204).send()
  }

  const results = async (request: FastifyRequest, reply: FastifyReply) => {
    const ctx = contextOf(request)
    const job = jobOf(request)
    if (job.apiVersion !== ctx.version) {
      throw jobError(409, 'InvalidJob', `Job ${job.id} was created with API version ${job.apiVersion}; get its results with that version`)
    }
    if (job.state !== 'JobComplete') throw jobError(400, 'InvalidJobState', `Results are not available: the job is in state ${job.state}`)
    const q = request.query as { locator?: string; maxRecords?: string }
    let start = 0
    if (q.locator !== undefined && q.locator !== '') {
      const offset = decodeLocator(q.locator)
      if (offset === null || offset > job.records.length) throw jobError(400, 'ClientInputError', `Invalid locator: ${q.locator}`)
      start = offset
    }
    let size = options.pageSize
    if (q.maxRecords !== undefined) {
      if (!/^\d+$/.test(q.maxRecords) || Number(q.maxRecords) < 1) throw jobError(400, 'ClientInputError', `Invalid maxRecords: ${q.maxRecords}`)
      size = Number(q.maxRecords)
    }
    const end = Math.min(job.records.length, start + size)
    const delimiter = COLUMN_DELIMITERS[job.columnDelimiter]
    const eol = LINE_ENDINGS[job.lineEnding]
    const { def, fields } = job
    const chunks = [csvRow(fields.map((f) => f.name), delimiter, eol)]
    const row: (string | null)[] = new Array<string | null>(fields.length)
    for (let i = start; i < end; i++) {
      const r = job.records[i]!
      for (let k = 0; k < fields.length; k++) row[k] = csvValue(def, fields[k]!, r)
      chunks.push(csvRow(row, delimiter, eol))
    }
    return reply
      .code(200)
      .header('content-type', 'text/csv')
      .header('Sforce-NumberOfRecords', String(end - start))
      .header('Sforce-Locator', end < job.records.length ? encodeLocator(end) : 'null')
      .send(chunks.join(''))
  }

  const list = async (request: FastifyRequest) => ({
    done: true, records: jobs.list(contextOf(request).org.id).map((j) => jobInfo(j, false)), nextRecordsUrl: null,
  })

  // Bulk API 2.0 query exists from API 47.0; older versions have no such resource.
  const opts = {
    preHandler: async (request: FastifyRequest) => {
      if (Number(contextOf(request).version) < MIN_VERSION) throw notFound()
    },
  }
  for (const base of ['/:version/jobs/query', '/:version/jobs/query/']) {
    api.post(base, opts, create)
    api.get(base, opts, list)
  }
  api.get('/:version/jobs/query/:jobId', opts, status)
  api.patch('/:version/jobs/query/:jobId', opts, abort)
  api.delete('/:version/jobs/query/:jobId', opts, remove)
  api.get('/:version/jobs/query/:jobId/results', opts, results)
}
