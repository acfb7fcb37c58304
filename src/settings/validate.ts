/**
 * The rules of import and export settings (contracts §2), checked against the live describe
 * of the chosen object. Each failure is a 422 `settings.invalid` naming the request field.
 */
import { AppError } from '../errors.ts'
import type { PropertyDefinition, PropertyType } from '../cohort/index.ts'
import type { FieldInfo, ObjectInfo } from '../salesforce/index.ts'
import type { StoredExport, StoredImport } from './model.ts'
import type { ExportSettings, ImportSettings } from './schemas.ts'

/** Long enough for any Cohort user id. */
export const MIN_COHORT_ID_FIELD_LENGTH = 36

/** Fields that need no mapping in export mode `all`: the bridge fills them itself. */
const FILLED_ON_CREATE = new Set(['LastName', 'Company'])

const invalid = (field: string, message: string) => new AppError('settings.invalid', message, { field })

/** `Loyalty_Tier__c` → `loyalty_tier`, `Title` → `title`, `FirstName` → `first_name`. */
export function propertyKeyOf(field: string): string {
  const key = field
    .replace(/__c$/, '')
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
  return /^[a-z]/.test(key) ? key.slice(0, 64) : `f_${key}`.slice(0, 64)
}

/** The Cohort property type of a Salesforce field type; null when it cannot be imported. */
export function propertyTypeOf(salesforceType: string): PropertyType | null {
  switch (salesforceType) {
    case 'string': case 'email': case 'phone': case 'url': case 'textarea': case 'picklist': case 'multipicklist': case 'id': case 'reference': case 'combobox':
      return 'text'
    case 'int': case 'double': case 'currency': case 'percent': case 'long':
      return 'number'
    case 'boolean':
      return 'boolean'
    case 'date': case 'datetime':
      return 'date'
    default:
      return null
  }
}

/** Can a Cohort property of `type` be written into a Salesforce field of `fieldType`? */
export function canExport(type: PropertyType, fieldType: string): boolean {
  // Text fields take any value as its text form.
  if (['string', 'textarea'].includes(fieldType)) return true
  return propertyTypeOf(fieldType) === type && !['id', 'reference'].includes(fieldType)
}

export interface ImportContext {
  objects: ObjectInfo[]
  /** Describe of `body.object`; absent when the object is unknown. */
  fields: FieldInfo[] | null
}

export function validateImport(body: ImportSettings, ctx: ImportContext, previous: StoredImport | null): StoredImport {
  if (!body.enabled) return { ...(previous ?? {}), enabled: false }
  if (!body.object) throw invalid('object', 'choose the object that holds your customers')
  if (!ctx.fields || !ctx.objects.some((o) => o.name === body.object)) throw invalid('object', `${body.object} is not an object the connected user can query`)
  const byName = new Map(ctx.fields.map((f) => [f.name, f]))
  if (!body.emailField) throw invalid('emailField', 'choose the field that holds the email address')
  const email = byName.get(body.emailField)
  if (!email?.readable) throw invalid('emailField', `${body.object}.${body.emailField} does not exist or is not readable`)
  if (!email.emailCapable) throw invalid('emailField', `${body.object}.${body.emailField} is a ${email.type} field, not an email or text field`)

  const seen = new Map<string, string>()
  const fields = body.fields.map((f, i) => {
    const info = byName.get(f.field)
    if (!info?.readable) throw invalid(`fields.${i}.field`, `${body.object}.${f.field} does not exist or is not readable`)
    const type = propertyTypeOf(info.type)
    if (!type) throw invalid(`fields.${i}.field`, `${body.object}.${f.field} is a ${info.type} field, which cannot become a user property`)
    const property = f.property ?? propertyKeyOf(f.field)
    const other = seen.get(property)
    if (other !== undefined) throw invalid(`fields.${i}.property`, `property "${property}" is used by ${other} already`)
    seen.set(property, f.field)
    return { field: f.field, property, type }
  })
  return { enabled: true, object: body.object, emailField: body.emailField, mode: body.mode, fields }
}

export interface ExportContext {
  importSettings: StoredImport | null
  fields: FieldInfo[]
  properties: PropertyDefinition[]
}

export function validateExport(body: ExportSettings, ctx: ExportContext, previous: StoredExport | null): StoredExport {
  if (!body.enabled) return { ...(previous ?? {}), enabled: false }
  const object = ctx.importSettings?.object ?? ''
  const byName = new Map(ctx.fields.map((f) => [f.name, f]))
  if (!body.cohortUserIdField) throw invalid('cohortUserIdField', 'choose the field that stores the Cohort user id')
  const idField = byName.get(body.cohortUserIdField)
  if (!idField) throw invalid('cohortUserIdField', `${object}.${body.cohortUserIdField} does not exist`)
  if (!idField.updateable) throw invalid('cohortUserIdField', `${object}.${body.cohortUserIdField} is not updateable by the connected user`)
  if (!['string', 'textarea'].includes(idField.type)) throw invalid('cohortUserIdField', `${object}.${body.cohortUserIdField} is a ${idField.type} field; it must be a text field`)
  if (idField.length < MIN_COHORT_ID_FIELD_LENGTH) throw invalid('cohortUserIdField', `${object}.${body.cohortUserIdField} holds ${idField.length} characters; a Cohort id needs ${MIN_COHORT_ID_FIELD_LENGTH}`)

  const properties = new Map(ctx.properties.map((p) => [p.key, p]))
  const targets = new Set<string>([body.cohortUserIdField])
  body.mappings.forEach((m, i) => {
    const property = properties.get(m.property)
    if (!property) throw invalid(`mappings.${i}.property`, `Cohort has no user property "${m.property}"`)
    const field = byName.get(m.field)
    if (!field) throw invalid(`mappings.${i}.field`, `${object}.${m.field} does not exist`)
    if (!field.updateable) throw invalid(`mappings.${i}.field`, `${object}.${m.field} is not updateable by the connected user`)
    if (!canExport(property.type, field.type)) throw invalid(`mappings.${i}.field`, `property "${m.property}" (${property.type}) cannot be written to ${object}.${m.field} (${field.type})`)
    if (targets.has(m.field)) throw invalid(`mappings.${i}.field`, `${object}.${m.field} is mapped twice`)
    targets.add(m.field)
  })

  for (const [name, value] of Object.entries(body.createDefaults)) {
    const field = byName.get(name)
    if (!field?.createable) throw invalid(`createDefaults.${name}`, `${object}.${name} does not exist or cannot be set on create`)
    if (value === null && !field.nillable) throw invalid(`createDefaults.${name}`, `${object}.${name} cannot be empty`)
  }

  if (body.mode === 'all') {
    const emailField = ctx.importSettings?.emailField
    for (const field of ctx.fields) {
      const required = field.createable && !field.nillable && !field.defaultedOnCreate && field.type !== 'boolean'
      if (!required || FILLED_ON_CREATE.has(field.name) || field.name === emailField || targets.has(field.name) || field.name in body.createDefaults) continue
      throw invalid('createDefaults', `${object}.${field.name} is required to create records: map a property to it or give it in createDefaults`)
    }
  }

  return {
    enabled: true,
    cohortUserIdField: body.cohortUserIdField,
    mode: body.mode,
    mappings: body.mappings,
    createDefaults: body.createDefaults,
    ...(body.apiBudgetPercent === undefined ? {} : { apiBudgetPercent: body.apiBudgetPercent }),
  }
}
