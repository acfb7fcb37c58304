/**
 * Cohort property values → the value a Salesforce field takes, by the field's describe type:
 * text within its length (an over-long value is refused with `STRING_TOO_LONG`, never cut),
 * emails checked, picklists matched to their values (a restricted one refuses others), numbers
 * within precision and scale (rounded to the scale, integers for `int`), booleans, dates as
 * `YYYY-MM-DD` and date-times as ISO-8601 UTC. A refusal carries the code Salesforce itself
 * would answer, so `errorsByCode` groups both kinds the same.
 */
import type { FieldDetail } from '../salesforce/index.ts'

export type FieldValue = string | number | boolean | null

export type Converted = { ok: true; value: FieldValue } | { ok: false; code: string; message: string }

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/
const PLAIN_DATE = /^\d{4}-\d{2}-\d{2}$/
const TEXT_TYPES = new Set(['string', 'textarea', 'phone', 'url', 'email', 'picklist', 'multipicklist', 'combobox', 'encryptedstring'])

const shown = (value: unknown) => {
  const text = typeof value === 'string' ? value : JSON.stringify(value)
  return text.length > 40 ? `${text.slice(0, 40)}…` : text
}

const refuse = (code: string, message: string): Converted => ({ ok: false, code, message })

function asText(value: unknown): string | null {
  if (typeof value === 'string') return value
  if (typeof value === 'number' && Number.isFinite(value)) return String(value)
  if (typeof value === 'boolean') return String(value)
  return null
}

function asNumber(value: unknown): number | null {
  const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN
  return Number.isFinite(n) ? n : null
}

function asDate(value: unknown): Date | null {
  if (typeof value === 'number' && Number.isFinite(value)) return new Date(value)
  if (typeof value !== 'string' || value.trim() === '') return null
  const d = new Date(PLAIN_DATE.test(value) ? `${value}T00:00:00.000Z` : value.replace(/([+-]\d{2})(\d{2})$/, '$1:$2'))
  return Number.isNaN(d.getTime()) ? null : d
}

/** The value to send for `value` into `field`; or why Salesforce would refuse it. */
export function toFieldValue(value: unknown, field: FieldDetail): Converted {
  const label = field.label || field.name
  if (value === null || value === undefined || value === '') {
    // Salesforce stores a blank checkbox as false; other fields clear.
    return { ok: true, value: field.type === 'boolean' ? false : null }
  }
  if (TEXT_TYPES.has(field.type)) {
    const text = asText(value)
    if (text === null) return refuse('INVALID_TYPE_FOR_FIELD', `${label}: ${shown(value)} is not text`)
    if (field.length > 0 && text.length > field.length) return refuse('STRING_TOO_LONG', `${label}: data value too large: ${shown(text)} (max length=${field.length})`)
    if (field.type === 'email' && !EMAIL.test(text.trim())) return refuse('INVALID_EMAIL_ADDRESS', `${label}: invalid email address: ${shown(text)}`)
    if (field.type === 'picklist' && field.picklistValues.length > 0) {
      const match = field.picklistValues.find((v) => v.toLowerCase() === text.trim().toLowerCase())
      if (match !== undefined) return { ok: true, value: match }
      if (field.restrictedPicklist) return refuse('INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST', `${label}: bad value for restricted picklist field: ${shown(text)}`)
    }
    return { ok: true, value: field.type === 'email' ? text.trim() : text }
  }
  switch (field.type) {
    case 'boolean':
      if (typeof value === 'boolean') return { ok: true, value }
      if (value === 'true' || value === 'false') return { ok: true, value: value === 'true' }
      return refuse('INVALID_TYPE_FOR_FIELD', `${label}: ${shown(value)} is not a boolean`)
    case 'int': {
      const n = asNumber(value)
      if (n === null || !Number.isInteger(n)) return refuse('INVALID_TYPE_FOR_FIELD', `${label}: ${shown(value)} is not a whole number`)
      const digits = field.digits > 0 ? field.digits : 9
      if (Math.abs(n) >= 10 ** digits || Math.abs(n) > 2_147_483_647) return refuse('NUMBER_OUTSIDE_VALID_RANGE', `${label}: value outside of valid range on numeric field: ${n}`)
      return { ok: true, value: n }
    }
    case 'double': case 'currency': case 'percent': case 'long': {
      const n = asNumber(value)
      if (n === null) return refuse('INVALID_TYPE_FOR_FIELD', `${label}: ${shown(value)} is not a number`)
      const scale = Math.max(0, field.scale)
      const rounded = Number(n.toFixed(Math.min(scale, 20)))
      if (field.precision > 0 && Math.abs(rounded) >= 10 ** (field.precision - scale)) return refuse('NUMBER_OUTSIDE_VALID_RANGE', `${label}: value outside of valid range on numeric field: ${n}`)
      return { ok: true, value: rounded }
    }
    case 'date': {
      const d = asDate(value)
      if (!d) return refuse('INVALID_TYPE_FOR_FIELD', `${label}: ${shown(value)} is not a date`)
      return { ok: true, value: typeof value === 'string' && PLAIN_DATE.test(value) ? value : d.toISOString().slice(0, 10) }
    }
    case 'datetime': {
      const d = asDate(value)
      if (!d) return refuse('INVALID_TYPE_FOR_FIELD', `${label}: ${shown(value)} is not a date-time`)
      return { ok: true, value: d.toISOString() }
    }
    default:
      return refuse('INVALID_FIELD_FOR_INSERT_UPDATE', `${label}: ${field.type} fields are not written by export`)
  }
}

const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/

/** Two field values are the same (numbers numerically, date-times as instants, text exactly). */
export function sameFieldValue(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (a === null || b === null || a === undefined || b === undefined) return (a ?? null) === (b ?? null)
  if (typeof a === 'number' || typeof b === 'number') return Number(a) === Number(b)
  if (typeof a === 'string' && typeof b === 'string') {
    const [x, y] = [a.replace(/([+-]\d{2})(\d{2})$/, '$1:$2'), b.replace(/([+-]\d{2})(\d{2})$/, '$1:$2')]
    return DATE_TIME.test(x) && DATE_TIME.test(y) && Date.parse(x) === Date.parse(y)
  }
  return JSON.stringify(a) === JSON.stringify(b)
}
