/**
 * PostgreSQL: an import or export batch in one transaction, all or nothing: a handful of
 * set-based statements whatever the batch size (errors, rare, go one statement each).
 */
import { forMerchant, prepareBatch } from '../shared/batches.ts'
import type { BatchStore, RecordError } from '../types/index.ts'
import type { PostgresContext, Queryable } from './db.ts'
import { writeError, writeResolutions } from './errors.ts'
import { noteExport } from './export-state.ts'
import { writeExportVersions } from './export-versions.ts'
import { writeFieldStates } from './field-states.ts'
import { moveHealthForward } from './health.ts'
import { removeLinks, writeLinks } from './links.ts'
import { deleteParked } from './parked.ts'
import { writeTraces } from './traces.ts'

/**
 * The parts both batches have, in the order that keeps a refused-again record open. The
 * traces, the log of what the batch did, are written last by each batch.
 */
async function writeCommon(client: Queryable, merchantId: string, parts: ReturnType<typeof prepareBatch>) {
  const links = await writeLinks(client, merchantId, parts.links)
  const fieldStates = (await writeFieldStates(client, parts.fieldStates)).map(({ recordId, field }) => ({ recordId, field }))
  const resolvedErrors = parts.resolveErrors.length > 0 ? await writeResolutions(client, merchantId, parts.resolveErrors) : 0
  const errors: RecordError[] = []
  for (const e of parts.errors) errors.push(await writeError(client, e))
  return { links, fieldStates, resolvedErrors, errors }
}

export function postgresBatches(ctx: PostgresContext): BatchStore {
  return {
    async commitImportBatch(batch) {
      const parts = prepareBatch(batch)
      return ctx.transaction(async (client) => {
        const unlinked = await removeLinks(client, batch.merchantId, batch.unlinks ?? [])
        const common = await writeCommon(client, batch.merchantId, parts)
        // After the merchant's link lock (taken by links and unlinks), as clearMerchantSyncState takes them.
        if (batch.importedAt) await moveHealthForward(client, batch.merchantId, 'last_import_at', batch.importedAt)
        await writeTraces(client, parts.traces)
        return { unlinked, ...common }
      })
    },

    async commitExportBatch(batch) {
      const parts = prepareBatch(batch)
      const versions = forMerchant(batch.merchantId, batch.exportVersions, 'export version')
      return ctx.transaction(async (client) => {
        const common = await writeCommon(client, batch.merchantId, parts)
        const exportVersions = await writeExportVersions(client, batch.merchantId, versions)
        if (batch.exportedAt) await noteExport(client, batch.merchantId, batch.exportedAt)
        const parkedAcked = await deleteParked(client, batch.merchantId, batch.parkedAcks ?? [])
        await writeTraces(client, parts.traces)
        return { ...common, exportVersions, parkedAcked }
      })
    },
  }
}
