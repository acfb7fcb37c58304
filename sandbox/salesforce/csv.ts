/**
 * A tiny RFC 4180 writer for Bulk API 2.0 results: every value double-quoted with embedded
 * quotes doubled, null as an empty unquoted field, the job's column delimiter and line ending.
 * (Hand-written: it is a dozen lines, and a library would cost more per row than it saves.)
 */

export const COLUMN_DELIMITERS = { BACKQUOTE: '`', CARET: '^', COMMA: ',', PIPE: '|', SEMICOLON: ';', TAB: '\t' } as const
export const LINE_ENDINGS = { LF: '\n', CRLF: '\r\n' } as const

export type ColumnDelimiter = keyof typeof COLUMN_DELIMITERS
export type LineEnding = keyof typeof LINE_ENDINGS

const QUOTE = /"/g

export function csvRow(values: readonly (string | null)[], delimiter: string, lineEnding: string): string {
  let line = ''
  for (let i = 0; i < values.length; i++) {
    if (i > 0) line += delimiter
    const v = values[i]
    if (v !== null && v !== undefined) line += `"${v.includes('"') ? v.replace(QUOTE, '""') : v}"`
  }
  return line + lineEnding
}
