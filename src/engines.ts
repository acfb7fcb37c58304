/**
 * The sync engines the service runs, as component factories (src/services.ts): the CDC
 * subscriber, which runs the first full load once a merchant's subscription holds its stream
 * position (and a resync when Salesforce asks for one), the importer, and the reader of
 * users created later in Cohort (mode `existing`), and the exporter of Cohort user events
 * into Salesforce. `server.ts` passes them to `buildApp`;
 * tests pick what they need.
 */
import { createCdcEngine, type CdcEngineOptions } from './cdc/index.ts'
import { createBackfillWriter, createExporter, createExportBackfill, type BackfillOptions, type ExporterOptions } from './cohort-events/index.ts'
import { createImporter, createLoadRunner, createNewUserImporter, type ImporterOptions, type LoadRunnerOptions } from './import/index.ts'
import type { ComponentFactory } from './services.ts'

export interface EngineOptions {
  importer?: ImporterOptions
  /** Records per page of the first full load. Default 2000. */
  loadPageSize?: number
  /** Bulk API 2.0 tuning of the load (tests: small results pages, quick polling). */
  loadBulk?: LoadRunnerOptions['bulk']
  /** Tuning of the CDC subscriber (tests: quicker resync retries). */
  cdc?: Pick<CdcEngineOptions, 'resyncRetryMinMs' | 'stallGraceMs' | 'replayPollMs'>
  exporter?: ExporterOptions
  /** The export backfill's page size and sweep (its writer is always the export's). */
  backfill?: Omit<BackfillOptions, 'writer'>
}

/** The import direction: subscriber (with its load), importer, new-user reader. */
export function importEngines(options: EngineOptions = {}): ComponentFactory[] {
  return [
    (services) => {
      const loads = createLoadRunner(services, {
        ...(options.loadPageSize === undefined ? {} : { pageSize: options.loadPageSize }),
        ...(options.loadBulk === undefined ? {} : { bulk: options.loadBulk }),
      })
      // The streams keep their resync requests durably and call `resync` once the stream
      // position is established (src/cdc/resync.ts); the load runner reads the records.
      return createCdcEngine(services, {
        ...options.cdc,
        onSubscribed: (ctx) => loads.run(ctx),
        resync: (ctx, order) => loads.resync(ctx, order),
      })
    },
    (services) => createImporter(services, options.importer),
    (services) => createNewUserImporter(services),
  ]
}

/**
 * The export direction: the exporter of Cohort user events and the backfill of existing users
 * when export is turned on or a mapping is added (src/cohort-events).
 */
export function exportEngines(options: EngineOptions = {}): ComponentFactory[] {
  return [
    (services) => createExporter(services, options.exporter),
    (services) => createExportBackfill(services, { ...options.backfill, writer: createBackfillWriter(services, options.exporter?.retry ? { retry: options.exporter.retry } : {}) }),
  ]
}

/** Every engine of the service. */
export function syncEngines(options: EngineOptions = {}): ComponentFactory[] {
  return [...importEngines(options), ...exportEngines(options)]
}
