/**
 * Salesforce values → Cohort property values (contracts §2 type map). A value that cannot be
 * converted is reported with a reason, never guessed: text is kept as text, numbers must be
 * finite, booleans real booleans (or "true"/"false"), dates ISO-8601 (date-times normalised to
 * UTC with milliseconds, plain dates kept as `YYYY-MM-DD`).
 */
import type { PropertyType, PropertyValue } from '../cohort/index.ts'

export type Converted = { ok: true; value: PropertyValue } | { ok: false; reason: string }

const PLAIN_DATE = /^\d{4}-\d{2}-\d{2}$/
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/

const describe = (value: unknown) => (typeof value === 'string' ? `"${value.length > 40 ? `${value.slice(0, 40)}…` : value}"` : typeof value === 'object' ? 'an object' : String(value))

export function convertValue(value: unknown, type: PropertyType): Converted {
  if (value === null || value === undefined) return { ok: true, value: null }
  switch (type) {
    case 'text':
      if (typeof value === 'string') return { ok: true, value }
      if (typeof value === 'number' || typeof value === 'boolean') return { ok: true, value: String(value) }
      return { ok: false, reason: `${describe(value)} is not text` }
    case 'number': {
      const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN
      return Number.isFinite(n) ? { ok: true, value: n } : { ok: false, reason: `${describe(value)} is not a finite number` }
    }
    case 'boolean':
      if (typeof value === 'boolean') return { ok: true, value }
      if (value === 'true' || value === 'false') return { ok: true, value: value === 'true' }
      return { ok: false, reason: `${describe(value)} is not a boolean` }
    case 'date': {
      if (typeof value === 'string' && PLAIN_DATE.test(value) && !Number.isNaN(Date.parse(value))) return { ok: true, value }
      // Salesforce writes `+0000` offsets in REST and `Z` in CometD: both become `…Z`.
      const text = typeof value === 'string' ? value.replace(/([+-]\d{2})(\d{2})$/, '$1:$2') : ''
      if (DATE_TIME.test(text) && !Number.isNaN(Date.parse(text))) return { ok: true, value: new Date(text).toISOString() }
      if (typeof value === 'number' && Number.isFinite(value)) return { ok: true, value: new Date(value).toISOString() }
      return { ok: false, reason: `${describe(value)} is not an ISO-8601 date` }
    }
  }
}

/** Two property values are the same (dates compared as instants). */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (a === null || b === null || a === undefined || b === undefined) return (a ?? null) === (b ?? null)
  if (typeof a === 'number' || typeof b === 'number') return Number(a) === Number(b)
  if (typeof a === 'string' && typeof b === 'string') {
    const [x, y] = [Date.parse(a), Date.parse(b)]
    return DATE_TIME.test(a.replace(/([+-]\d{2})(\d{2})$/, '$1:$2')) && !Number.isNaN(x) && x === y
  }
  return JSON.stringify(a) === JSON.stringify(b)
}
