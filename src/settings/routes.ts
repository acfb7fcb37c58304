/**
 * The dashboard's settings API under `/v1/merchants/:merchantId/salesforce` (contracts §2):
 * status, disconnect, objects and fields from the live describe, import and export settings
 * validated against it, and the audit log. Every route needs the dashboard JWT; CORS allows
 * DASHBOARD_ORIGIN only.
 */
import cors from '@fastify/cors'
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import type { CohortClient } from '../cohort/index.ts'
import type { Config } from '../config.ts'
import { AppError } from '../errors.ts'
import type { DashboardAuth } from '../http/index.ts'
import type { TokenCipher } from '../crypto/index.ts'
import type { MerchantEvents } from '../merchant-events.ts'
import { disconnectMerchant, type ApiBudget, type DescribeService, type SalesforceConnections } from '../salesforce/index.ts'
import type { Store } from '../store/index.ts'
import type { StoredExport, StoredImport } from './model.ts'
import { AuditList, ExportSettings, FieldList, ImportSettings, MerchantParams, ObjectList, ObjectParams, PageQuery, RefreshQuery } from './schemas.ts'
import type { SettingsService } from './service.ts'
import { buildStatus } from './status.ts'
import { validateExport, validateImport } from './validate.ts'

export interface SettingsRouteDeps {
  config: Config
  store: Store
  cipher: TokenCipher
  connections: SalesforceConnections
  describe: DescribeService
  cohort: CohortClient
  auth: DashboardAuth
  events: MerchantEvents
  settings: SettingsService
  /** The live API budget for the status (services.budget). */
  budget?: ApiBudget
}

export interface SettingsRouteOptions {
  /** More `/v1` routes to register in the same scope (its CORS): the errors routes. */
  register?: (scope: FastifyInstance) => void
}

export function registerSettingsRoutes(app: FastifyInstance, deps: SettingsRouteDeps, options: SettingsRouteOptions = {}): void {
  const { store, describe, cohort, settings } = deps

  app.register(async (scope) => {
    await scope.register(cors, { origin: deps.config.dashboard.origin, methods: ['GET', 'PUT', 'POST', 'DELETE'], allowedHeaders: ['authorization', 'content-type'], maxAge: 600 })
    options.register?.(scope)
    const routes = scope.withTypeProvider<ZodTypeProvider>()
    const base = '/v1/merchants/:merchantId/salesforce'
    const guarded = { onRequest: deps.auth.requireMerchant }

    // What validation compares against: null for a direction never saved.
    const settingsOf = async (merchantId: string) => {
      const current = await settings.get(merchantId)
      return {
        version: current.version,
        import: current.version === 0 ? null : current.import,
        export: current.version === 0 ? null : current.export,
      }
    }

    const connected = async (merchantId: string) => {
      const connection = await store.getConnection(merchantId)
      if (!connection || connection.state === 'disconnected') throw new AppError('salesforce.not-connected', 'connect Salesforce first')
      if (connection.state === 'needs-reauth') throw new AppError('salesforce.needs-reauth', 'the Salesforce connection needs re-authorisation: connect again')
    }

    routes.get(base, { ...guarded, schema: { params: MerchantParams, tags: ['settings'] } }, async (request) => buildStatus(deps, request.params.merchantId))

    routes.delete(base, { ...guarded, schema: { params: MerchantParams, tags: ['settings'] } }, async (request) => {
      await disconnectMerchant(deps, request.params.merchantId, request.principal!.actor, request.log)
      describe.forget(request.params.merchantId)
      return buildStatus(deps, request.params.merchantId)
    })

    routes.get(`${base}/objects`, { ...guarded, schema: { params: MerchantParams, querystring: RefreshQuery, response: { 200: ObjectList }, tags: ['settings'] } }, async (request) => {
      await connected(request.params.merchantId)
      return { objects: await describe.objects(request.params.merchantId, { refresh: request.query.refresh === 'true' }) }
    })

    routes.get(`${base}/objects/:object/fields`, { ...guarded, schema: { params: ObjectParams, querystring: RefreshQuery, response: { 200: FieldList }, tags: ['settings'] } }, async (request) => {
      await connected(request.params.merchantId)
      return { fields: await describe.fields(request.params.merchantId, request.params.object, { refresh: request.query.refresh === 'true' }) }
    })

    routes.put(`${base}/import`, { ...guarded, schema: { params: MerchantParams, body: ImportSettings, tags: ['settings'] } }, async (request) => {
      const { merchantId } = request.params
      const body = request.body
      const before = await settingsOf(merchantId)
      let next: StoredImport
      if (body.enabled) {
        await connected(merchantId)
        const objects = await describe.objects(merchantId)
        const fields = body.object && objects.some((o) => o.name === body.object) ? await describe.fields(merchantId, body.object) : null
        next = validateImport(body, { objects, fields }, before.import)
        const labels = new Map((fields ?? []).map((f) => [f.name, f.label]))
        // Each imported field becomes a Cohort user property; an incompatible one refuses the save.
        for (const [i, f] of (next.fields ?? []).entries()) {
          try {
            await cohort.ensureProperty(merchantId, { key: f.property, name: labels.get(f.field) ?? f.property, type: f.type as 'text' })
          } catch (err) {
            if (err instanceof AppError && err.code === 'cohort.property-conflict') throw new AppError('settings.invalid', err.message, { field: `fields.${i}.property`, cause: err })
            throw err
          }
        }
      } else {
        next = validateImport(body, { objects: [], fields: null }, before.import)
      }
      // Export needs import: turning import off turns export off.
      const exportAfter = !next.enabled && before.export?.enabled ? { ...before.export, enabled: false } : before.export ?? { enabled: false }
      await settings.save(merchantId, { import: next, export: exportAfter }, { expectedVersion: before.version })
      await store.appendAudit({ merchantId, actor: request.principal!.actor, action: 'settings.import.updated', details: { before: before.import, after: next } })
      if (before.export?.enabled && !exportAfter.enabled) {
        await store.appendAudit({ merchantId, actor: request.principal!.actor, action: 'settings.export.updated', details: { before: before.export, after: exportAfter, reason: 'import turned off' } })
      }
      return buildStatus(deps, merchantId)
    })

    routes.put(`${base}/export`, { ...guarded, schema: { params: MerchantParams, body: ExportSettings, tags: ['settings'] } }, async (request) => {
      const { merchantId } = request.params
      const body = request.body
      const before = await settingsOf(merchantId)
      let next: StoredExport
      if (body.enabled) {
        if (!before.import?.enabled || !before.import.object) throw new AppError('import-required', 'export needs import to be enabled first')
        await connected(merchantId)
        const [fields, properties] = await Promise.all([describe.fields(merchantId, before.import.object), cohort.listProperties(merchantId, { fresh: true })])
        next = validateExport(body, { importSettings: before.import, fields, properties }, before.export)
      } else {
        next = validateExport(body, { importSettings: before.import, fields: [], properties: [] }, before.export)
      }
      await settings.save(merchantId, { import: before.import ?? { enabled: false }, export: next }, { expectedVersion: before.version })
      await store.appendAudit({ merchantId, actor: request.principal!.actor, action: 'settings.export.updated', details: { before: before.export, after: next } })
      return buildStatus(deps, merchantId)
    })

    routes.get(`${base}/audit`, { ...guarded, schema: { params: MerchantParams, querystring: PageQuery, response: { 200: AuditList }, tags: ['settings'] } }, async (request) => {
      const page = await store.listAudit(request.params.merchantId, { cursor: request.query.cursor ?? null, limit: request.query.limit ?? 50 })
      return {
        data: page.data.map((e) => ({ id: e.id, actor: e.actor, action: e.action, details: e.details, at: e.at.toISOString() })),
        nextCursor: page.nextCursor,
      }
    })
  })
}
