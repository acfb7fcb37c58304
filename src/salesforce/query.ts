/**
 * SOQL reads of customer records, batch-shaped: by ids, by emails, or a keyset page of a whole
 * object. Only checked names reach a SOQL string (object and field names match Salesforce's
 * API-name grammar) and every value is quoted with {@link soqlString}; an IN list holds at
 * most 200 values and stays within the URL length a GET query may have.
 */
import type { Connection, QueryResult } from 'jsforce'
import { AppError } from '../errors.ts'
import { toSalesforceError, withSalesforceDeadline } from './errors.ts'

/** Values per IN list (Salesforce's own examples and collections use 200). */
export const IN_LIST_MAX = 200
/** Characters of SOQL per GET query, well under the 16 KB URL limit once encoded. */
export const SOQL_MAX_CHARS = 8_000

export type SalesforceRecord = Record<string, unknown> & { Id: string }

const API_NAME = /^[A-Za-z][A-Za-z0-9_]{0,79}$/

/** A Salesforce API name (object or field), or `request.invalid`. */
export function apiName(name: string): string {
  if (!API_NAME.test(name)) throw new AppError('request.invalid', `not a Salesforce API name: ${JSON.stringify(name.slice(0, 100))}`)
  return name
}

/** A SOQL string literal: quotes, backslashes and control characters escaped. */
export function soqlString(value: string): string {
  const escaped = value.replace(/[\\'"\n\r\t\b\f]/g, (c) => ({ '\\': '\\\\', "'": "\\'", '"': '\\"', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f' })[c]!)
  return `'${escaped}'`
}

/**
 * A SOQL date-time literal, whole seconds, rounded down: a window `>= from` only grows, and a
 * bound `<= before` only moves earlier (a stall check then looks a little further back).
 */
export function soqlDateTime(at: Date): string {
  return `${new Date(Math.floor(at.getTime() / 1000) * 1000).toISOString().slice(0, 19)}Z`
}

/** Split values into IN lists of at most {@link IN_LIST_MAX} values and `maxChars` characters. */
export function inLists(values: string[], maxChars = SOQL_MAX_CHARS - 500): string[][] {
  const lists: string[][] = []
  let current: string[] = []
  let chars = 0
  for (const value of values) {
    const size = soqlString(value).length + 1
    if (current.length > 0 && (current.length >= IN_LIST_MAX || chars + size > maxChars)) {
      lists.push(current)
      current = []
      chars = 0
    }
    current.push(value)
    chars += size
  }
  if (current.length > 0) lists.push(current)
  return lists
}

/** `Id, SystemModstamp` and the given fields, checked and de-duplicated. */
export function selectList(fields: string[]): string {
  const names = new Map<string, string>()
  for (const f of ['Id', 'SystemModstamp', ...fields]) names.set(apiName(f).toLowerCase(), f)
  return [...names.values()].join(', ')
}

/** Every record of a query, following `nextRecordsUrl` (`queryAll`: deleted records too). */
export async function queryRecords(conn: Connection, soql: string, what: string, options: { queryAll?: boolean } = {}): Promise<SalesforceRecord[]> {
  try {
    const first = conn.query<SalesforceRecord>(soql, { autoFetch: false, scanAll: options.queryAll ?? false }) as PromiseLike<QueryResult<SalesforceRecord>>
    let result = await withSalesforceDeadline(Promise.resolve(first), what)
    const records = [...result.records]
    while (!result.done && result.nextRecordsUrl) {
      result = await withSalesforceDeadline(Promise.resolve(conn.queryMore<SalesforceRecord>(result.nextRecordsUrl)), what)
      records.push(...result.records)
    }
    return records
  } catch (err) {
    throw toSalesforceError(err, what)
  }
}

/** A read's filter: a SOQL condition the bridge built (never user input), and `queryAll` for deleted records too. */
export interface ReadFilter {
  where?: string | undefined
  queryAll?: boolean | undefined
}

/** ` WHERE …` of the filter and the keyset condition, or ''. */
export function whereClause(where: string | undefined, afterId: string | null | undefined): string {
  const parts = [where ? `(${where})` : null, afterId ? `Id > ${soqlString(afterId)}` : null].filter((p) => p !== null)
  return parts.length === 0 ? '' : ` WHERE ${parts.join(' AND ')}`
}

/** How many records the object has (`SELECT COUNT()`), or match the filter. */
export async function countRecords(conn: Connection, object: string, filter: ReadFilter = {}): Promise<number> {
  try {
    const query = conn.query(`SELECT COUNT() FROM ${apiName(object)}${whereClause(filter.where, null)}`, { scanAll: filter.queryAll ?? false }) as PromiseLike<QueryResult<Record<string, unknown>>>
    const result = await withSalesforceDeadline(Promise.resolve(query), `count ${object}`)
    return result.totalSize
  } catch (err) {
    throw toSalesforceError(err, `count ${object}`)
  }
}

/** The records with these ids (deleted ones are not returned). */
export async function selectByIds(conn: Connection, object: string, fields: string[], ids: string[]): Promise<SalesforceRecord[]> {
  const out: SalesforceRecord[] = []
  for (const list of inLists([...new Set(ids)])) {
    out.push(...(await queryRecords(conn, `SELECT ${selectList(fields)} FROM ${apiName(object)} WHERE Id IN (${list.map(soqlString).join(', ')})`, `read ${object} by id`)))
  }
  return out
}

/** The records whose email field holds one of `emails`. */
export async function selectByEmails(conn: Connection, object: string, emailField: string, fields: string[], emails: string[]): Promise<SalesforceRecord[]> {
  const out: SalesforceRecord[] = []
  for (const list of inLists([...new Set(emails)])) {
    out.push(...(await queryRecords(conn, `SELECT ${selectList([emailField, ...fields])} FROM ${apiName(object)} WHERE ${apiName(emailField)} IN (${list.map(soqlString).join(', ')})`, `read ${object} by email`)))
  }
  return out
}

/** One keyset page of an object in Id order, after `afterId` (resumable, no OFFSET). */
export async function selectPage(conn: Connection, object: string, fields: string[], afterId: string | null, limit: number, filter: ReadFilter = {}): Promise<SalesforceRecord[]> {
  return queryRecords(conn, `SELECT ${selectList(fields)} FROM ${apiName(object)}${whereClause(filter.where, afterId)} ORDER BY Id ASC LIMIT ${Math.trunc(limit)}`, `load ${object}`, { queryAll: filter.queryAll ?? false })
}
