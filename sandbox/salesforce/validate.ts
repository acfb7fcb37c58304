/**
 * Field validation of a create or update body, with Salesforce's error codes and messages.
 * Problems with the request as a whole (unknown field, a value that cannot be deserialised)
 * are thrown as top-level errors; problems with the record's data are returned per record.
 */
import type { FieldDef } from './fields.ts'
import { normaliseId } from './ids.ts'
import type { SObjectDef } from './metadata.ts'
import { noSuchColumn, recordError, SalesforceApiError, type RecordError } from './errors.ts'
import { parseDate, parseDateTime } from './values.ts'

export type WriteMode = 'create' | 'update'

export interface ValidationResult {
  /** Canonical field name → stored value (null = clear). */
  values: Record<string, unknown>
  errors: RecordError[]
}

export interface ValidateOptions {
  /** The admin API may set audit fields (CreatedDate, LastModifiedDate) the API may not. */
  admin?: boolean
}

/** Keys of a body that are not fields. */
const IGNORED = new Set(['attributes', 'id'])
const ADMIN_WRITABLE = new Set(['CreatedDate', 'LastModifiedDate'])
// Deliberately lenient, like Salesforce: local part, @, a domain with a dot.
const EMAIL = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$/

function parserError(field: FieldDef, type: string, value: unknown): SalesforceApiError {
  const shown = typeof value === 'string' ? value : JSON.stringify(value)
  const token = typeof value === 'string' ? 'VALUE_STRING' : typeof value === 'number' ? 'VALUE_NUMBER_INT' : typeof value === 'boolean' ? `VALUE_${String(value).toUpperCase()}` : 'START_OBJECT'
  return new SalesforceApiError(400, 'JSON_PARSER_ERROR', `Cannot deserialize instance of ${type} from ${token} value ${shown} or request may be missing a required field`, [field.name])
}

/** One value converted to its stored form; throws JSON_PARSER_ERROR, returns errors for bad data. */
function convert(field: FieldDef, value: unknown, errors: RecordError[]): unknown {
  if (value === null || value === undefined) return null
  switch (field.type) {
    case 'string': case 'email': case 'phone': case 'url': case 'textarea': case 'picklist': {
      if (typeof value === 'object') throw parserError(field, 'string', value)
      const text = String(value)
      // Salesforce stores a blank text value as null.
      if (text === '') return null
      if (field.length && text.length > field.length) {
        errors.push(recordError('STRING_TOO_LONG', `${field.label}: data value too large: ${text} (max length=${field.length})`, [field.name]))
        return text
      }
      if (field.type === 'email' && !EMAIL.test(text)) {
        errors.push(recordError('INVALID_EMAIL_ADDRESS', `${field.label}: invalid email address: ${text}`, [field.name]))
      }
      if (field.type === 'picklist' && field.restrictedPicklist && !field.picklistValues.some((p) => p.value === text)) {
        errors.push(recordError('INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST', `${field.label}: bad value for restricted picklist field: ${text}`, [field.name]))
      }
      return text
    }
    case 'boolean':
      if (typeof value === 'boolean') return value
      if (value === 'true' || value === 'false') return value === 'true'
      throw parserError(field, 'boolean', value)
    case 'int': case 'double': case 'currency': case 'percent': {
      const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN
      if (!Number.isFinite(n) || (field.type === 'int' && !Number.isInteger(n))) throw parserError(field, field.type === 'int' ? 'int' : 'double', value)
      const integerDigits = field.type === 'int' ? field.digits : field.precision - field.scale
      if (integerDigits > 0 && Math.abs(Math.trunc(n)) >= 10 ** integerDigits) {
        errors.push(recordError('NUMBER_OUTSIDE_VALID_RANGE', `${field.label}: value outside of valid range on numeric field: ${n}`, [field.name]))
      }
      return field.type === 'int' ? n : Number(n.toFixed(field.scale))
    }
    case 'date': {
      const d = typeof value === 'string' ? parseDate(value) : null
      if (d === null) throw parserError(field, 'date', value)
      return d
    }
    case 'datetime': {
      const ms = typeof value === 'string' ? parseDateTime(value) : typeof value === 'number' ? value : null
      if (ms === null) throw parserError(field, 'datetime', value)
      return ms
    }
    case 'reference': {
      if (typeof value !== 'string') throw parserError(field, 'string', value)
      if (value === '') return null
      const id = normaliseId(value)
      if (id === null) {
        errors.push(recordError('MALFORMED_ID', `${field.label}: id value of incorrect type: ${value}`, [field.name]))
        return value
      }
      return id
    }
    default:
      return value
  }
}

/**
 * Check one record body for `mode` against the object's metadata. `current` is the stored
 */
export function validateRecord(def: SObjectDef, body: Record<string, unknown>, mode: WriteMode, options: ValidateOptions = {}): ValidationResult {
  const values: Record<string, unknown> = {}
  const errors: RecordError[] = []
  const notWritable: string[] = []
  for (const [key, raw] of Object.entries(body)) {
    if (IGNORED.has(key.toLowerCase())) continue
    const field = def.fieldsByLower.get(key.toLowerCase())
    if (!field) throw noSuchColumn(key, def.name)
    const writable = mode === 'create' ? field.createable : field.updateable
    if (!writable && !(options.admin && ADMIN_WRITABLE.has(field.name))) {
      notWritable.push(field.name)
      continue
    }
    values[field.name] = convert(field, raw, errors)
  }
  if (notWritable.length > 0) {
    errors.unshift(recordError('INVALID_FIELD_FOR_INSERT_UPDATE',
      `Unable to create/update fields: ${notWritable.join(', ')}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.`,
      notWritable))
  }
  const missing = def.fields.filter((f) => {
    if (!f.createable || f.nillable || f.defaultedOnCreate) return false
    return mode === 'create' ? values[f.name] === undefined || values[f.name] === null : f.name in values && values[f.name] === null
  })
  if (missing.length > 0) {
    const names = missing.map((f) => f.name)
    errors.unshift(recordError('REQUIRED_FIELD_MISSING', `Required fields are missing: [${names.join(', ')}]`, names))
  }
  return { values, errors }
}

/**
 * Values the server fills on create when the body leaves them out. Unset booleans (false),
 * OwnerId (the creator) and a custom object's Name (the id) are derived on read instead, so
 * records stay small.
 */
export function applyCreateDefaults(def: SObjectDef, values: Record<string, unknown>): void {
  for (const f of def.fields) {
    if (f.derived || f.type === 'boolean' || (values[f.name] !== undefined && values[f.name] !== null)) continue
    if (f.defaultedOnCreate && f.defaultValue !== null) values[f.name] = f.defaultValue
  }
}
