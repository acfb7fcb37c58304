/** SQLite: an import or export batch in one transaction, all or nothing. */
import { forMerchant, prepareBatch } from '../shared/batches.ts'
import type { BatchStore } from '../types/index.ts'
import type { SqliteContext } from './db.ts'
import { writeError, writeResolutions } from './errors.ts'
import { writeExportVersions } from './export-versions.ts'
import { writeFieldStates } from './field-states.ts'
import { removeLinks, writeLinks } from './links.ts'
import { writeTraces } from './traces.ts'

export function sqliteBatches(ctx: SqliteContext): BatchStore {
  /** The parts both batches have, in the order that keeps a refused-again record open. */
  function writeCommon(merchantId: string, parts: ReturnType<typeof prepareBatch>) {
    const links = writeLinks(ctx, merchantId, parts.links)
    const fieldStates = writeFieldStates(ctx, parts.fieldStates).map(({ recordId, field }) => ({ recordId, field }))
    const resolvedErrors = parts.resolveErrors.length > 0 ? writeResolutions(ctx, merchantId, parts.resolveErrors) : 0
    const errors = parts.errors.map((e) => writeError(ctx, e))
    writeTraces(ctx, parts.traces)
    return { links, fieldStates, resolvedErrors, errors }
  }

  return {
    async commitImportBatch(batch) {
      const parts = prepareBatch(batch)
      return ctx.transaction(() => {
        const unlinked = removeLinks(ctx, batch.merchantId, batch.unlinks ?? [])
        return { unlinked, ...writeCommon(batch.merchantId, parts) }
      })
    },

    async commitExportBatch(batch) {
      const parts = prepareBatch(batch)
      const versions = forMerchant(batch.merchantId, batch.exportVersions, 'export version')
      return ctx.transaction(() => {
        const common = writeCommon(batch.merchantId, parts)
        const exportVersions = writeExportVersions(ctx, batch.merchantId, versions)
        return { ...common, exportVersions }
      })
    },
  }
}
