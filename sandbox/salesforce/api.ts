/**
 * The REST API under `/services/data`: the versions list (no auth, not an API call), then for
 * every `/services/data/vXX.X/…` call, in order: fault injection, the bearer token
 * (401 INVALID_SESSION_ID when missing, expired or revoked), counting the call
 * (`Sforce-Limit-Info`, 403 REQUEST_LIMIT_EXCEEDED past the daily allocation), then the route.
 * Errors are answered in Salesforce's top-level array shape.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { notFound, SalesforceApiError, sessionInvalid } from './errors.ts'
import { RECORD_FAULT_KINDS, type FaultBook } from './faults.ts'
import { endpointOf, type ApiUsage } from './limits.ts'
import type { AccessToken, OAuthState } from './oauth.ts'
import { baseUrlOf, bearerOf } from './oauth-routes.ts'
import type { Org, SandboxUser } from './orgs.ts'
import type { Caller, RecordStore } from './records.ts'
import { registerBulk2Routes, type Bulk2Jobs, type Bulk2Options } from './bulk2.ts'
import type { StreamingUsage } from './cometd.ts'
import { registerCollectionRoutes } from './collections-routes.ts'
import { registerQueryRoutes, type QueryCursors } from './query-routes.ts'
import { registerSObjectRoutes } from './sobject-routes.ts'

export const LATEST_VERSION = '62.0'
const OLDEST_MAJOR = 31

/** `[{ label: "Winter '25", url: "/services/data/v62.0", version: "62.0" }, …]`, oldest first. */
export function versionsList(): { label: string; url: string; version: string }[] {
  const out = []
  const latest = Number.parseInt(LATEST_VERSION, 10)
  for (let major = OLDEST_MAJOR; major <= latest; major++) {
    const k = latest - major
    const year = 25 - Math.floor(k / 3) - (k % 3 === 0 ? 0 : 1)
    const season = ['Winter', 'Summer', 'Spring'][k % 3]
    out.push({ label: `${season} '${String(year).padStart(2, '0')}`, url: `/services/data/v${major}.0`, version: `${major}.0` })
  }
  return out
}

export interface CallContext {
  org: Org
  user: SandboxUser
  access: AccessToken
  /** `62.0` */
  version: string
  caller: Caller
  /** unable-to-lock-row fault: records of this call that fail (Infinity = all). */
  lockFailures: number
  /** bulk-query-failed fault: a query job created by this call ends in Failed. */
  bulkFailure: boolean
}

const contexts = new WeakMap<FastifyRequest, CallContext>()
/** Calls taken by an `answer-lost` fault: carried out, then their connection closed unanswered. */
const losing = new WeakSet<FastifyRequest>()

/** The authenticated call a route runs in. */
export function contextOf(request: FastifyRequest): CallContext {
  const ctx = contexts.get(request)
  if (!ctx) throw sessionInvalid()
  return ctx
}

export interface ApiDeps {
  store: RecordStore
  oauth: OAuthState
  usage: ApiUsage
  faults: FaultBook
  cursors: QueryCursors
  bulkJobs: Bulk2Jobs
  bulkOptions: Bulk2Options
  /** Streaming clients and deliveries of an org, for /limits. */
  streamingUsage(orgId: string): StreamingUsage
}

/** `client=x` of `Sforce-Call-Options` (options separated by `;` or `,`). */
export function clientOf(request: FastifyRequest): string | undefined {
  const header = request.headers['sforce-call-options']
  const value = Array.isArray(header) ? header.join(',') : header
  for (const part of (value ?? '').split(/[;,]/)) {
    const [k, ...v] = part.trim().split('=')
    if (k?.toLowerCase() === 'client' && v.length > 0) return v.join('=').trim()
  }
  return undefined
}

function sendError(reply: FastifyReply, err: SalesforceApiError): FastifyReply {
  return reply.code(err.status).send(err.body())
}

export function registerRestApi(app: FastifyInstance, deps: ApiDeps): void {
  const versions = async () => versionsList()
  app.get('/services/data', versions)
  app.get('/services/data/', versions)

  app.register(async (api) => {
    api.setErrorHandler((err, request, reply) => {
      if (err instanceof SalesforceApiError) return sendError(reply, err)
      const e = err as { statusCode?: number; code?: string; message: string }
      if (e.statusCode === 400 || e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || e.code?.startsWith('FST_ERR_CTP')) {
        return sendError(reply, new SalesforceApiError(e.statusCode === 415 ? 415 : 400, 'JSON_PARSER_ERROR', e.message))
      }
      request.log.error({ err }, 'salesforce stand-in: unexpected error')
      return sendError(reply, new SalesforceApiError(500, 'UNKNOWN_EXCEPTION', 'An unexpected error occurred. Please include this ErrorId if you contact support: 0000000000-00000 (0000000000)'))
    })
    api.setNotFoundHandler((_request, reply) => sendError(reply, notFound()))
    // The work is done (a job created, a record written); only the answer never reaches the caller.
    api.addHook('onSend', async (request, _reply, payload) => {
      if (losing.has(request)) request.raw.socket?.destroy()
      return payload
    })

    api.addHook('onRequest', async (request, reply) => {
      const path = request.url.split('?')[0] ?? request.url
      const m = /^\/services\/data\/v(\d+\.\d)(?:\/|$)/.exec(path)
      if (!m || !versionsList().some((v) => v.version === m[1])) throw notFound()
      const version = m[1]!

      // Record faults wait for the collection route, which knows the records.
      const fault = deps.faults.take(request.method, path, (f) => !RECORD_FAULT_KINDS.has(f.kind))
      if (fault) request.log.info({ fault: fault.kind }, 'salesforce stand-in: injected fault')
      if (fault?.kind === 'http-503') throw new SalesforceApiError(503, 'SERVER_UNAVAILABLE', 'Server Unavailable')
      if (fault?.kind === 'http-500') throw new SalesforceApiError(500, 'UNKNOWN_EXCEPTION', 'An unexpected error occurred. Please include this ErrorId if you contact support: 0000000000-00000 (0000000000)')
      if (fault?.kind === 'latency') await new Promise((resolve) => setTimeout(resolve, fault.latencyMs))
      if (fault?.kind === 'answer-lost') losing.add(request)

      const access = deps.oauth.authenticate(bearerOf(request) ?? '')
      if (!access) throw sessionInvalid()
      if (!access.scope.some((s) => s === 'api' || s === 'full')) {
        throw new SalesforceApiError(401, 'INVALID_SESSION_ID', 'This session is not valid for use with the REST API')
      }
      if (fault?.kind === 'request-limit-exceeded' || deps.usage.used(access.org.id) >= deps.usage.max) {
        reply.header('Sforce-Limit-Info', deps.usage.header(access.org.id))
        throw new SalesforceApiError(403, 'REQUEST_LIMIT_EXCEEDED', 'TotalRequests Limit exceeded.')
      }
      const client = clientOf(request)
      deps.usage.count(access.org.id, endpointOf(request.method, path), client)
      reply.header('Sforce-Limit-Info', deps.usage.header(access.org.id))
      contexts.set(request, {
        org: access.org, user: access.user, access, version,
        caller: { user: access.user, kind: 'api', api: 'rest', apiVersion: version, ...(client ? { client } : {}) },
        lockFailures: fault?.kind === 'unable-to-lock-row' ? fault.records ?? Number.POSITIVE_INFINITY : 0,
        bulkFailure: fault?.kind === 'bulk-query-failed',
      })
    })

    const resourcesOf = async (request: FastifyRequest) => {
      const ctx = contextOf(request)
      return resources(ctx.version, `${baseUrlOf(request)}/id/${ctx.org.id}/${ctx.user.id}`)
    }
    api.get('/:version', resourcesOf)
    api.get('/:version/', resourcesOf)
    const limits = async (request: FastifyRequest) => {
      const ctx = contextOf(request)
      return deps.usage.limits(ctx.org.id, deps.streamingUsage(ctx.org.id))
    }
    api.get('/:version/limits', limits)
    api.get('/:version/limits/', limits)
    registerSObjectRoutes(api, deps)
    registerQueryRoutes(api, deps)
    registerCollectionRoutes(api, deps)
    registerBulk2Routes(api, deps)
  }, { prefix: '/services/data' })
}

function resources(version: string, identity: string): Record<string, string> {
  const base = `/services/data/v${version}`
  const names = ['tooling', 'metadata', 'eclair', 'folders', 'prechatForms', 'chatter', 'tabs', 'appMenu', 'quickActions', 'queryAll',
    'commerce', 'wave', 'iot', 'analytics', 'search', 'identity', 'composite', 'parameterizedSearch', 'theme', 'nouns',
    'recent', 'licensing', 'limits', 'async-queries', 'query', 'jobs', 'sobjects', 'actions', 'support']
  const out: Record<string, string> = {}
  for (const n of names) out[n] = `${base}/${n}`
  out.identity = identity
  return out
}
