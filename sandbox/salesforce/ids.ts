/**
 * Salesforce record ids: 3-char key prefix, 12 more chars, then a 3-char case checksum that
 * makes the 18-char form case-insensitive. Ids are made from a per-org counter so they are
 * unique, sortable by creation and cheap to produce in bulk.
 */
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
const CHECKSUM_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345'

/** The 3-char suffix of the 18-char form of a 15-char id. */
export function idChecksum(id15: string): string {
  let suffix = ''
  for (let chunk = 0; chunk < 3; chunk++) {
    let bits = 0
    for (let i = 0; i < 5; i++) {
      const c = id15.charCodeAt(chunk * 5 + i)
      if (c >= 65 && c <= 90) bits |= 1 << i
    }
    suffix += CHECKSUM_CHARS[bits]
  }
  return suffix
}

/** `prefix` (3) + `pod` (2) + `0` + base62 counter (9) + checksum (3). */
export function makeId(prefix: string, pod: string, counter: number): string {
  let digits = ''
  let n = counter
  for (let i = 0; i < 9; i++) {
    digits = BASE62[n % 62] + digits
    n = Math.floor(n / 62)
  }
  const id15 = `${prefix}${pod}0${digits}`
  return id15 + idChecksum(id15)
}

const ID_SHAPE = /^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$/

/** True when `value` has the shape of a 15- or 18-char id (the checksum is checked too). */
export function isWellFormedId(value: string): boolean {
  if (!ID_SHAPE.test(value)) return false
  if (value.length === 15) return true
  return idChecksum(value.slice(0, 15)).toLowerCase() === value.slice(15).toLowerCase()
}

/**
 * The stored 18-char form of an id given as 15 or 18 chars (18-char ids are case-insensitive,
 * so the case of the body is rebuilt from the checksum), or null when malformed.
 */
export function normaliseId(value: string): string | null {
  if (!isWellFormedId(value)) return null
  if (value.length === 15) return value + idChecksum(value)
  const suffix = value.slice(15).toUpperCase()
  let body = ''
  for (let chunk = 0; chunk < 3; chunk++) {
    const bits = CHECKSUM_CHARS.indexOf(suffix[chunk] ?? 'A')
    for (let i = 0; i < 5; i++) {
      const c = value[chunk * 5 + i] ?? ''
      body += bits & (1 << i) ? c.toUpperCase() : c.toLowerCase()
    }
  }
  return body + suffix
}
