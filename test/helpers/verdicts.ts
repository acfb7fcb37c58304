/** A hand-written check against the zod schema it stands in for: the same verdict, the same value. */
import type { Test } from 'tap'

export interface VerdictCheck<T> {
  /** The hand-written parse of a message's text. */
  ours: (text: string) => { ok: true; value: T } | { ok: false; reason: string }
  /** The schema's parse of the same JSON. */
  theirs: (json: unknown) => { success: true; data: unknown } | { success: false }
  /** How the reason of a refused message starts. */
  reason: RegExp
  /** Compare the values as JSON text (same keys in the same order) rather than deeply. */
  sameKeyOrder?: boolean
}

/** Checks every variant; returns how many were accepted. */
export function checkVerdicts<T>(t: Test, variants: Array<[string, unknown]>, check: VerdictCheck<T>): number {
  let accepted = 0
  for (const [name, value] of variants) {
    const text = JSON.stringify(value) ?? 'null'
    const ours = check.ours(text)
    const theirs = check.theirs(JSON.parse(text))
    t.equal(ours.ok, theirs.success, name)
    if (ours.ok && theirs.success) {
      accepted++
      if (check.sameKeyOrder) t.equal(JSON.stringify(ours.value), JSON.stringify(theirs.data), `${name}: same value`)
      else t.same(ours.value, theirs.data, `${name}: same value`)
    }
    if (!ours.ok) t.match(ours.reason, check.reason, `${name}: the schema's reason`)
  }
  return accepted
}
