/**
 * A parser for the SOQL the bridge uses: field lists or `COUNT()`, one object, `WHERE` with
 * `=`, `!=`, `<>`, `<`, `<=`, `>`, `>=`, `LIKE`, `IN`, `NOT IN`, `AND`, `OR`, `NOT`, parentheses,
 * `NULL`, booleans, numbers, strings, date and date-time literals and the common date
 * keywords (`TODAY`, `LAST_N_DAYS:n`…); `ORDER BY … ASC|DESC NULLS FIRST|LAST`, `LIMIT`, `OFFSET`.
 * Syntax errors carry the 1-based column Salesforce reports.
 */

export type Literal =
  | { kind: 'string'; value: string }
  | { kind: 'number'; value: number }
  | { kind: 'boolean'; value: boolean }
  | { kind: 'null' }
  | { kind: 'date'; value: string }
  | { kind: 'datetime'; value: number }
  | { kind: 'dateRange'; name: string; n: number }

export type Condition =
  | { kind: 'and' | 'or'; items: Condition[] }
  | { kind: 'not'; item: Condition }
  | { kind: 'compare'; field: FieldRef; op: '=' | '!=' | '<' | '<=' | '>' | '>=' | 'like'; value: Literal }
  | { kind: 'in'; field: FieldRef; negated: boolean; values: Literal[] }

export interface FieldRef { name: string; column: number }

export interface OrderItem { field: FieldRef; descending: boolean; nullsLast: boolean }

export interface SoqlQuery {
  /** `null` for `SELECT COUNT()`. */
  fields: FieldRef[] | null
  object: FieldRef
  where: Condition | null
  orderBy: OrderItem[]
  limit: number | null
  offset: number | null
}

export class SoqlSyntaxError extends Error {
  readonly column: number
  constructor(message: string, column: number) {
    super(message)
    this.name = 'SoqlSyntaxError'
    this.column = column
  }
}

interface Token { type: 'word' | 'string' | 'number' | 'datetime' | 'date' | 'op' | 'punct' | 'eof'; text: string; value?: string; column: number }

const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:\d{2})/
const DATE = /^\d{4}-\d{2}-\d{2}(?![\dT])/
const NUMBER = /^[+-]?\d+(?:\.\d+)?/
const WORD = /^[A-Za-z_][A-Za-z0-9_.]*(?::\d+)?/
const ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', b: '\b', f: '\f', '"': '"', "'": "'", '\\': '\\', _: '\\_', '%': '\\%' }

function tokenize(soql: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  while (i < soql.length) {
    const c = soql[i]!
    if (/\s/.test(c)) { i++; continue }
    const column = i + 1
    const rest = soql.slice(i)
    let m: RegExpExecArray | null
    if (c === "'") {
      let value = ''
      let j = i + 1
      for (; j < soql.length && soql[j] !== "'"; j++) {
        if (soql[j] === '\\') {
          const e = soql[++j] ?? ''
          const mapped = ESCAPES[e]
          if (mapped === undefined) throw new SoqlSyntaxError(`Invalid string literal '${soql.slice(i, j + 1)}'. Illegal character sequence '\\${e}' in string literal.`, column)
          value += mapped
        } else value += soql[j]
      }
      if (j >= soql.length) throw new SoqlSyntaxError(`line 1:${i} mismatched character '<EOF>' expecting '''`, column)
      tokens.push({ type: 'string', text: soql.slice(i, j + 1), value, column })
      i = j + 1
    } else if ((m = DATE_TIME.exec(rest))) {
      tokens.push({ type: 'datetime', text: m[0], column }); i += m[0].length
    } else if ((m = DATE.exec(rest))) {
      tokens.push({ type: 'date', text: m[0], column }); i += m[0].length
    } else if ((m = NUMBER.exec(rest)) && (/\d/.test(c) || /[(,=<>]\s*$/.test(soql.slice(0, i)) || tokens.at(-1)?.type === 'op')) {
      tokens.push({ type: 'number', text: m[0], column }); i += m[0].length
    } else if ((m = WORD.exec(rest))) {
      tokens.push({ type: 'word', text: m[0], column }); i += m[0].length
    } else if ((m = /^(?:!=|<>|<=|>=|=|<|>)/.exec(rest))) {
      tokens.push({ type: 'op', text: m[0], column }); i += m[0].length
    } else if ('(),'.includes(c)) {
      tokens.push({ type: 'punct', text: c, column }); i++
    } else {
      throw new SoqlSyntaxError(`unexpected token: '${c}'`, column)
    }
  }
  tokens.push({ type: 'eof', text: '<EOF>', column: soql.length + 1 })
  return tokens
}

const RANGE_KEYWORDS = new Set([
  'TODAY', 'YESTERDAY', 'TOMORROW', 'LAST_WEEK', 'THIS_WEEK', 'NEXT_WEEK', 'LAST_MONTH', 'THIS_MONTH', 'NEXT_MONTH',
  'LAST_90_DAYS', 'NEXT_90_DAYS', 'THIS_YEAR', 'LAST_YEAR', 'NEXT_YEAR', 'LAST_N_DAYS', 'NEXT_N_DAYS',
])

/** Parse one SOQL statement. */
export function parseSoql(soql: string): SoqlQuery {
  const tokens = tokenize(soql)
  let pos = 0
  const peek = () => tokens[pos]!
  const next = () => tokens[pos++]!
  const isWord = (word: string, t = peek()) => t.type === 'word' && t.text.toUpperCase() === word
  const unexpected = (t = peek()): never => {
    throw new SoqlSyntaxError(`unexpected token: ${t.type === 'eof' ? '<EOF>' : `'${t.text}'`}`, t.column)
  }
  const expectWord = (word: string) => (isWord(word) ? next() : unexpected())
  const expectPunct = (p: string) => (peek().type === 'punct' && peek().text === p ? next() : unexpected())
  const fieldRef = (): FieldRef => {
    const t = peek()
    if (t.type !== 'word' || t.text.includes(':')) return unexpected()
    next()
    return { name: t.text, column: t.column }
  }

  const literal = (): Literal => {
    const t = next()
    switch (t.type) {
      case 'string': return { kind: 'string', value: t.value ?? '' }
      case 'number': return { kind: 'number', value: Number(t.text) }
      case 'date': return { kind: 'date', value: t.text }
      case 'datetime': return { kind: 'datetime', value: Date.parse(t.text) }
      case 'word': {
        const upper = t.text.toUpperCase()
        if (upper === 'NULL') return { kind: 'null' }
        if (upper === 'TRUE' || upper === 'FALSE') return { kind: 'boolean', value: upper === 'TRUE' }
        const [name = '', n] = upper.split(':')
        if (RANGE_KEYWORDS.has(name) && (n === undefined) === !name.includes('_N_')) return { kind: 'dateRange', name, n: Number(n ?? 0) }
        throw new SoqlSyntaxError(`unexpected token: '${t.text}'`, t.column)
      }
      default: return unexpected(t)
    }
  }

  const primary = (): Condition => {
    if (peek().type === 'punct' && peek().text === '(') {
      next()
      const inner = orCondition()
      expectPunct(')')
      return inner
    }
    if (isWord('NOT')) {
      next()
      return { kind: 'not', item: primary() }
    }
    const field = fieldRef()
    const t = peek()
    if (t.type === 'op') {
      next()
      const op = t.text === '<>' ? '!=' : (t.text as '=' | '!=' | '<' | '<=' | '>' | '>=')
      return { kind: 'compare', field, op, value: literal() }
    }
    if (isWord('LIKE')) {
      next()
      return { kind: 'compare', field, op: 'like', value: literal() }
    }
    let negated = false
    if (isWord('NOT')) { next(); negated = true }
    if (isWord('IN')) {
      next()
      expectPunct('(')
      if (isWord('SELECT')) throw new SoqlSyntaxError('semi-join sub-selects are not supported by the stand-in', peek().column)
      const values = [literal()]
      while (peek().type === 'punct' && peek().text === ',') { next(); values.push(literal()) }
      expectPunct(')')
      return { kind: 'in', field, negated, values }
    }
    return unexpected()
  }

  const andCondition = (): Condition => {
    const items = [primary()]
    while (isWord('AND')) { next(); items.push(primary()) }
    return items.length === 1 ? items[0]! : { kind: 'and', items }
  }
  const orCondition = (): Condition => {
    const items = [andCondition()]
    while (isWord('OR')) { next(); items.push(andCondition()) }
    return items.length === 1 ? items[0]! : { kind: 'or', items }
  }
  const integer = (): number => {
    const t = next()
    if (t.type !== 'number' || !/^\d+$/.test(t.text)) return unexpected(t)
    return Number(t.text)
  }

  expectWord('SELECT')
  let fields: FieldRef[] | null = []
  if (isWord('COUNT') && tokens[pos + 1]?.text === '(' && tokens[pos + 2]?.text === ')') {
    pos += 3
    fields = null
  } else {
    fields.push(fieldRef())
    while (peek().type === 'punct' && peek().text === ',') { next(); fields.push(fieldRef()) }
  }
  expectWord('FROM')
  const object = fieldRef()
  let where: Condition | null = null
  if (isWord('WHERE')) { next(); where = orCondition() }
  const orderBy: OrderItem[] = []
  if (isWord('ORDER')) {
    next(); expectWord('BY')
    do {
      if (orderBy.length > 0) next()
      const field = fieldRef()
      let descending = false
      if (isWord('ASC')) next()
      else if (isWord('DESC')) { next(); descending = true }
      let nullsLast = descending
      if (isWord('NULLS')) {
        next()
        if (isWord('FIRST')) nullsLast = false
        else if (isWord('LAST')) nullsLast = true
        else unexpected()
        next()
      }
      orderBy.push({ field, descending, nullsLast })
    } while (peek().type === 'punct' && peek().text === ',')
  }
  let limit: number | null = null
  let offset: number | null = null
  if (isWord('LIMIT')) { next(); limit = integer() }
  if (isWord('OFFSET')) { next(); offset = integer() }
  if (peek().type !== 'eof') unexpected()
  return { fields, object, where, orderBy, limit, offset }
}
