/** SQLite: an import or export batch in one transaction, all or nothing. */
import { forMerchant, prepareBatch } from '../shared/batches.ts'
import type { BatchStore } from '../types/index.ts'
import type { SqliteContext } from './db.ts'
import { writeError, writeResolutions } from './errors.ts'
import { noteExport } from './export-state.ts'
import { writeExportVersions } from './export-versions.ts'
import { writeFieldStates } from './field-states.ts'
import { moveHealthForward } from './health.ts'
import { removeLinks, writeLinks } from './links.ts'
import { deleteParked } from './parked.ts'
import { writeTraces } from './traces.ts'

export function sqliteBatches(ctx: SqliteContext): BatchStore {
  /**
   * The parts both batches have, in the order that keeps a refused-again record open. The
   * traces, the log of what the batch did, are written last by each batch.
   */
  function writeCommon(merchantId: string, parts: ReturnType<typeof prepareBatch>) {
    const links = writeLinks(ctx, merchantId, parts.links)
    const fieldStates = writeFieldStates(ctx, parts.fieldStates).map(({ recordId, field }) => ({ recordId, field }))
    const resolvedErrors = parts.resolveErrors.length > 0 ? writeResolutions(ctx, merchantId, parts.resolveErrors) : 0
    const errors = parts.errors.map((e) => writeError(ctx, e))
    return { links, fieldStates, resolvedErrors, errors }
  }

  return {
    async commitImportBatch(batch) {
      const parts = prepareBatch(batch)
      return ctx.transaction(() => {
        const unlinked = removeLinks(ctx, batch.merchantId, batch.unlinks ?? [])
        const common = writeCommon(batch.merchantId, parts)
        if (batch.importedAt) moveHealthForward(ctx, batch.merchantId, 'last_import_at', batch.importedAt)
        writeTraces(ctx, parts.traces)
        return { unlinked, ...common }
      })
    },

    async commitExportBatch(batch) {
      const parts = prepareBatch(batch)
      const versions = forMerchant(batch.merchantId, batch.exportVersions, 'export version')
      return ctx.transaction(() => {
        const common = writeCommon(batch.merchantId, parts)
        const exportVersions = writeExportVersions(ctx, batch.merchantId, versions)
        if (batch.exportedAt) noteExport(ctx, batch.merchantId, batch.exportedAt)
        const parkedAcked = deleteParked(ctx, batch.merchantId, batch.parkedAcks ?? [])
        writeTraces(ctx, parts.traces)
        return { ...common, exportVersions, parkedAcked }
      })
    },
  }
}
