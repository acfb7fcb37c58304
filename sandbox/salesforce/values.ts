/**
 * How field values are stored and written out. Stored values are compact: text as strings,
 * numbers as numbers, dates as `YYYY-MM-DD`, date-times as epoch milliseconds. REST answers
 * date-times as `2024-05-29T16:26:40.000+0000`, as Salesforce does.
 */
import type { FieldDef } from './fields.ts'

let lastMs = Number.NaN
let lastText = ''

/** `2024-05-29T16:26:40.000+0000`. (The last one is cached: a record's audit dates share it.) */
export function formatDateTime(ms: number): string {
  if (ms !== lastMs) {
    lastText = new Date(ms).toISOString().replace('Z', '+0000')
    lastMs = ms
  }
  return lastText
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:?\d{2})$/

export function parseDate(value: string): string | null {
  const m = DATE.exec(value) ?? DATE.exec(value.slice(0, 10))
  if (!m) return null
  const d = new Date(`${m[1]}-${m[2]}-${m[3]}T00:00:00Z`)
  if (Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== `${m[1]}-${m[2]}-${m[3]}`) return null
  return `${m[1]}-${m[2]}-${m[3]}`
}

export function parseDateTime(value: string): number | null {
  if (!DATE_TIME.test(value)) return null
  // `+0000` is not ISO-8601 for Date.parse; add the colon.
  const iso = value.replace(/([+-]\d{2})(\d{2})$/, '$1:$2')
  const ms = Date.parse(iso)
  return Number.isNaN(ms) ? null : ms
}

/** A stored value as REST JSON shows it. */
export function formatValue(field: FieldDef, value: unknown): unknown {
  if (value === null || value === undefined) return null
  if (field.type === 'datetime' && typeof value === 'number') return formatDateTime(value)
  return value
}
