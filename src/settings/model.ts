/**
 * A merchant's settings as the engines see them: parsed on every read (zod), so import,
 * export and reconcile get typed values and never import route schemas. Stored JSON that no
 * longer parses is a `settings.invalid` naming the part, never a silent cast.
 */
import { z } from 'zod'
import { AppError } from '../errors.ts'
import type { SettingsChangeKind } from '../merchant-events.ts'

export const PropertyTypeSchema = z.enum(['text', 'number', 'boolean', 'date'])

/** Import settings as stored: every field with its resolved Cohort property and type. */
export const StoredImportSchema = z.object({
  enabled: z.boolean(),
  object: z.string().min(1).optional(),
  emailField: z.string().min(1).optional(),
  mode: z.enum(['all', 'existing']).default('all'),
  fields: z.array(z.object({ field: z.string().min(1), property: z.string().min(1), type: PropertyTypeSchema })).default([]),
})
export type StoredImport = z.input<typeof StoredImportSchema>
export type ImportConfig = z.output<typeof StoredImportSchema>

export const StoredExportSchema = z.object({
  enabled: z.boolean(),
  cohortUserIdField: z.string().min(1).optional(),
  mode: z.enum(['all', 'existing']).default('existing'),
  mappings: z.array(z.object({ property: z.string().min(1), field: z.string().min(1) })).default([]),
  createDefaults: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).default({}),
  apiBudgetPercent: z.number().int().min(1).max(100).optional(),
})
export type StoredExport = z.input<typeof StoredExportSchema>
export type ExportConfig = z.output<typeof StoredExportSchema>

/** One merchant's settings. `version` 0 means never saved (both directions off). */
export interface Settings {
  merchantId: string
  version: number
  import: ImportConfig
  export: ExportConfig
  updatedAt: Date | null
}

export type { SettingsChangeKind } from '../merchant-events.ts'

export function parseImport(raw: unknown, merchantId: string): ImportConfig {
  const parsed = StoredImportSchema.safeParse(raw ?? { enabled: false })
  if (!parsed.success) throw new AppError('settings.invalid', `stored import settings of merchant ${merchantId} do not parse: ${parsed.error.issues[0]?.message ?? 'invalid'}`, { field: 'import', status: 500 })
  return parsed.data
}

export function parseExport(raw: unknown, merchantId: string): ExportConfig {
  const parsed = StoredExportSchema.safeParse(raw ?? { enabled: false })
  if (!parsed.success) throw new AppError('settings.invalid', `stored export settings of merchant ${merchantId} do not parse: ${parsed.error.issues[0]?.message ?? 'invalid'}`, { field: 'export', status: 500 })
  return parsed.data
}

export function defaultSettings(merchantId: string): Settings {
  return { merchantId, version: 0, import: parseImport(null, merchantId), export: parseExport(null, merchantId), updatedAt: null }
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)

/** The kinds of change between two versions of one merchant's settings. */
export function diffSettings(before: Settings, after: Settings): SettingsChangeKind[] {
  const changes: SettingsChangeKind[] = []
  const imp = (['enabled', 'object', 'emailField', 'fields', 'mode'] as const)
  for (const key of imp) if (!same(before.import[key], after.import[key])) changes.push(`import.${key}`)
  const exp = (['enabled', 'mappings', 'mode', 'cohortUserIdField', 'createDefaults', 'apiBudgetPercent'] as const)
  for (const key of exp) if (!same(before.export[key], after.export[key])) changes.push(`export.${key}`)
  return changes
}
