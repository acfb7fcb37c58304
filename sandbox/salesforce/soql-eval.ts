/**
 * Running a parsed SOQL query over the record store: names resolved against the describe
 * metadata (Salesforce's INVALID_FIELD / INVALID_TYPE / MALFORMED_QUERY errors, with the
 * caret excerpt and `ERROR at Row:1:Column:n` line), then filter, sort, offset and limit.
 */
import { SalesforceApiError } from './errors.ts'
import type { FieldDef } from './fields.ts'
import { normaliseId } from './ids.ts'
import { findSObject, type SObjectDef } from './metadata.ts'
import { rawValue } from './read.ts'
import type { StoredRecord } from './records.ts'
import { parseSoql, SoqlSyntaxError, type Condition, type FieldRef, type Literal } from './soql-parse.ts'

export interface QueryPlan {
  def: SObjectDef
  /** `null` for `COUNT()`. */
  fields: FieldDef[] | null
  matches(record: StoredRecord): boolean
  sort(records: StoredRecord[]): StoredRecord[]
  limit: number | null
  offset: number
}

function queryError(soql: string, code: string, column: number, text: string): SalesforceApiError {
  const line = soql.replace(/\s/g, ' ')
  return new SalesforceApiError(400, code, `\n${line}\n${' '.repeat(Math.max(0, column - 1))}^\nERROR at Row:1:Column:${column}\n${text}`)
}

const TEXT_TYPES = new Set(['string', 'email', 'phone', 'url', 'textarea', 'picklist', 'id', 'reference'])
const NUMBER_TYPES = new Set(['int', 'double', 'currency', 'percent'])
const DAY = 86_400_000

function dayStart(ms: number): number {
  return Math.floor(ms / DAY) * DAY
}

/** [start, end) in epoch ms of a date keyword such as TODAY or LAST_N_DAYS:7 (UTC). */
function dateRange(name: string, n: number, now = Date.now()): [number, number] {
  const today = dayStart(now)
  const d = new Date(today)
  const month = (offset: number): [number, number] => [Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + offset, 1), Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + offset + 1, 1)]
  const year = (offset: number): [number, number] => [Date.UTC(d.getUTCFullYear() + offset, 0, 1), Date.UTC(d.getUTCFullYear() + offset + 1, 0, 1)]
  const weekStart = today - d.getUTCDay() * DAY
  switch (name) {
    case 'TODAY': return [today, today + DAY]
    case 'YESTERDAY': return [today - DAY, today]
    case 'TOMORROW': return [today + DAY, today + 2 * DAY]
    case 'THIS_WEEK': return [weekStart, weekStart + 7 * DAY]
    case 'LAST_WEEK': return [weekStart - 7 * DAY, weekStart]
    case 'NEXT_WEEK': return [weekStart + 7 * DAY, weekStart + 14 * DAY]
    case 'THIS_MONTH': return month(0)
    case 'LAST_MONTH': return month(-1)
    case 'NEXT_MONTH': return month(1)
    case 'THIS_YEAR': return year(0)
    case 'LAST_YEAR': return year(-1)
    case 'NEXT_YEAR': return year(1)
    case 'LAST_90_DAYS': return [today - 90 * DAY, today + DAY]
    case 'NEXT_90_DAYS': return [today + DAY, today + 91 * DAY]
    case 'LAST_N_DAYS': return [today - n * DAY, today + DAY]
    default: return [today + DAY, today + (n + 1) * DAY] // NEXT_N_DAYS
  }
}

function likeToRegExp(pattern: string): RegExp {
  let source = ''
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!
    if (c === '\\' && (pattern[i + 1] === '%' || pattern[i + 1] === '_')) source += pattern[++i]
    else if (c === '%') source += '[\\s\\S]*'
    else if (c === '_') source += '[\\s\\S]'
    else source += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`^${source}$`, 'i')
}

/** Compare two non-null comparable values: numbers, booleans, or strings case-insensitively. */
function compareValues(a: unknown, b: unknown): number {
  if (typeof a === 'string' && typeof b === 'string') {
    const x = a.toLowerCase()
    const y = b.toLowerCase()
    return x < y ? -1 : x > y ? 1 : 0
  }
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b)
  return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0
}

/** Build an executable plan for `soql`, or throw Salesforce's error for it. */
export function planQuery(soql: string): QueryPlan {
  let parsed
  try {
    parsed = parseSoql(soql)
  } catch (err) {
    if (err instanceof SoqlSyntaxError) throw queryError(soql, 'MALFORMED_QUERY', err.column, err.message)
    throw err
  }
  const def = findSObject(parsed.object.name)
  if (!def) {
    throw queryError(soql, 'INVALID_TYPE', parsed.object.column,
      `sObject type '${parsed.object.name}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.`)
  }

  const resolve = (ref: FieldRef): FieldDef => {
    const field = def.fieldsByLower.get(ref.name.toLowerCase())
    if (field) return field
    if (ref.name.includes('.')) {
      throw queryError(soql, 'INVALID_FIELD', ref.column, `Didn't understand relationship '${ref.name.split('.')[0]}' in field path. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names.`)
    }
    throw queryError(soql, 'INVALID_FIELD', ref.column,
      `No such column '${ref.name}' on entity '${def.name}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.`)
  }

  let fields: FieldDef[] | null = null
  if (parsed.fields) {
    fields = []
    const seen = new Set<string>()
    for (const ref of parsed.fields) {
      const field = resolve(ref)
      if (seen.has(field.name)) throw queryError(soql, 'MALFORMED_QUERY', ref.column, `duplicate field selected: ${field.name}`)
      seen.add(field.name)
      fields.push(field)
    }
  }

  /** A literal in the stored form of `field`'s values. */
  const coerce = (field: FieldDef, ref: FieldRef, lit: Literal): unknown => {
    const wrongType = (type: string): never => {
      throw queryError(soql, 'INVALID_QUERY_FILTER_OPERATOR', ref.column,
        `value of filter criterion for field '${field.name}' must be of type ${type} and should not be enclosed in quotes`)
    }
    if (lit.kind === 'null') return null
    if (TEXT_TYPES.has(field.type)) {
      if (lit.kind !== 'string') throw queryError(soql, 'MALFORMED_QUERY', ref.column, `${field.name} = ${JSON.stringify(lit)}: value must be a string`)
      if (field.type === 'id' || field.type === 'reference') {
        const id = normaliseId(lit.value)
        if (id === null && lit.value !== '') throw queryError(soql, 'INVALID_QUERY_FILTER_OPERATOR', ref.column, `invalid ID field: ${lit.value}`)
        return id
      }
      return lit.value
    }
    if (NUMBER_TYPES.has(field.type)) return lit.kind === 'number' ? lit.value : wrongType(field.type === 'int' ? 'int' : 'double')
    if (field.type === 'boolean') return lit.kind === 'boolean' ? lit.value : wrongType('boolean')
    if (field.type === 'date') {
      if (lit.kind === 'date') return Date.parse(`${lit.value}T00:00:00Z`)
      if (lit.kind === 'dateRange') return lit
      return wrongType('date')
    }
    if (field.type === 'datetime') {
      if (lit.kind === 'datetime') return lit.value
      if (lit.kind === 'dateRange') return lit
      return wrongType('dateTime')
    }
    throw queryError(soql, 'INVALID_FIELD', ref.column, `field '${field.name}' can not be filtered in a query call`)
  }

  /** Comparable form of a stored value: dates as epoch ms so they meet date literals. */
  const comparable = (field: FieldDef, r: StoredRecord): unknown => {
    const v = rawValue(def, field, r)
    if (field.type === 'date' && typeof v === 'string') return Date.parse(`${v}T00:00:00Z`)
    return v
  }

  type Predicate = (r: StoredRecord) => boolean
  const compile = (c: Condition): Predicate => {
    switch (c.kind) {
      case 'and': { const ps = c.items.map(compile); return (r) => ps.every((p) => p(r)) }
      case 'or': { const ps = c.items.map(compile); return (r) => ps.some((p) => p(r)) }
      case 'not': { const p = compile(c.item); return (r) => !p(r) }
      case 'in': {
        const field = resolve(c.field)
        const values = c.values.map((v) => coerce(field, c.field, v))
        const hasNull = values.includes(null)
        const keys = new Set(values.filter((v) => v !== null).map((v) => (typeof v === 'string' ? v.toLowerCase() : v)))
        const test = (r: StoredRecord) => {
          const v = comparable(field, r)
          if (v === null) return hasNull
          return keys.has(typeof v === 'string' ? v.toLowerCase() : v)
        }
        return c.negated ? (r) => !test(r) : test
      }
      case 'compare': {
        const field = resolve(c.field)
        if (c.op === 'like') {
          if (!TEXT_TYPES.has(field.type) || c.value.kind !== 'string') {
            throw queryError(soql, 'INVALID_QUERY_FILTER_OPERATOR', c.field.column, `invalid operator on ${field.type} field: LIKE`)
          }
          const re = likeToRegExp(c.value.value)
          return (r) => {
            const v = comparable(field, r)
            return typeof v === 'string' && re.test(v)
          }
        }
        const target = coerce(field, c.field, c.value)
        const op = c.op
        if (target !== null && typeof target === 'object') {
          const range = target as { name: string; n: number }
          return (r) => {
            const v = comparable(field, r) as number | null
            if (v === null) return op === '!='
            const [start, end] = dateRange(range.name, range.n)
            switch (op) {
              case '=': return v >= start && v < end
              case '!=': return v < start || v >= end
              case '<': return v < start
              case '<=': return v < end
              case '>': return v >= end
              default: return v >= start
            }
          }
        }
        return (r) => {
          const v = comparable(field, r)
          if (target === null) return op === '=' ? v === null : op === '!=' ? v !== null : false
          if (v === null) return op === '!='
          const cmp = compareValues(v, target)
          switch (op) {
            case '=': return cmp === 0
            case '!=': return cmp !== 0
            case '<': return cmp < 0
            case '<=': return cmp <= 0
            case '>': return cmp > 0
            default: return cmp >= 0
          }
        }
      }
    }
  }

  const where = parsed.where ? compile(parsed.where) : () => true
  const order = parsed.orderBy.map((o) => {
    const field = resolve(o.field)
    if (field.type === 'address' || (field.type === 'textarea' && field.length > 255)) {
      throw queryError(soql, 'INVALID_FIELD', o.field.column, `field '${field.name}' can not be sorted in a query call`)
    }
    return { field, sign: o.descending ? -1 : 1, nullsLast: o.nullsLast }
  })

  return {
    def,
    fields,
    matches: where,
    limit: parsed.limit,
    offset: parsed.offset ?? 0,
    sort(records) {
      if (order.length === 0) return records
      const keyed = records.map((r) => ({ r, keys: order.map((o) => comparable(o.field, r)) }))
      keyed.sort((a, b) => {
        for (let i = 0; i < order.length; i++) {
          const o = order[i]!
          const x = a.keys[i]
          const y = b.keys[i]
          if (x === y) continue
          if (x === null) return o.nullsLast ? 1 : -1
          if (y === null) return o.nullsLast ? -1 : 1
          const cmp = compareValues(x, y) * o.sign
          if (cmp !== 0) return cmp
        }
        return 0
      })
      return keyed.map((k) => k.r)
    },
  }
}
