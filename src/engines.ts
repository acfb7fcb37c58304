/**
 * The sync engines the service runs, as component factories (src/services.ts): the CDC
 * subscriber, which runs the first full load once a merchant's subscription holds its stream
 * position (and a resync when Salesforce asks for one), the importer, and the reader of
 * users created later in Cohort (mode `existing`). `server.ts` passes them to `buildApp`;
 * tests pick what they need.
 */
import { createCdcEngine } from './cdc/index.ts'
import { createImporter, createLoadRunner, createNewUserImporter, type ImporterOptions } from './import/index.ts'
import type { ComponentFactory } from './services.ts'

export interface EngineOptions {
  importer?: ImporterOptions
  /** Records per page of the first full load. Default 2000. */
  loadPageSize?: number
}

/** The import direction: subscriber (with its load), importer, new-user reader. */
export function importEngines(options: EngineOptions = {}): ComponentFactory[] {
  return [
    (services) => {
      const loads = createLoadRunner(services, options.loadPageSize === undefined ? {} : { pageSize: options.loadPageSize })
      // A lost position (replay id outside retention) is repaired once the new subscription
      // holds the stream position again; an overflow or wildcard event arrives on a live
      // subscription, so its resync starts at once.
      const afterSubscribe = new Map<string, string>()
      return createCdcEngine(services, {
        onSubscribed: (ctx) => {
          const reason = afterSubscribe.get(ctx.merchantId)
          afterSubscribe.delete(ctx.merchantId)
          return reason === undefined ? loads.run(ctx) : loads.run(ctx, { force: true, reason })
        },
        onResync: (ctx, reason) => {
          if (reason.startsWith('replay id')) afterSubscribe.set(ctx.merchantId, reason)
          else void loads.run(ctx, { force: true, reason })
        },
      })
    },
    (services) => createImporter(services, options.importer),
    (services) => createNewUserImporter(services),
  ]
}

/** Every engine of the service. */
export function syncEngines(options: EngineOptions = {}): ComponentFactory[] {
  return importEngines(options)
}
