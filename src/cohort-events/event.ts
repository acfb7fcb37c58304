/**
 * The Cohort user event of `cohort.user-events` (contracts §3), as one zod schema: what the
 * webhook ingress accepts and what the export consumer reads. Unknown keys are kept (Cohort
 * may add some); a message that breaks this schema is a 400 at the webhook and a dead letter
 * on the topic.
 */
import { z } from 'zod'
import { regexes } from 'zod/v4/core'
import { PropertyValue } from '../cohort/index.ts'

export const CohortEventType = z.enum(['user.created', 'user.properties.updated', 'user.deleted'])
export type CohortEventType = z.infer<typeof CohortEventType>

export const CohortUserEvent = z.looseObject({
  id: z.string().min(1).max(256),
  type: CohortEventType,
  merchantId: z.string().min(1).max(128),
  userId: z.string().min(1).max(256),
  email: z.string().max(320),
  occurredAt: z.iso.datetime({ offset: true }),
  /** Grows with every change of the user; per property, only a higher one applies. */
  version: z.number().int().nonnegative(),
  /** Only the properties that changed; `null` clears. `user.deleted` may leave it out. */
  properties: z.record(z.string(), PropertyValue).default({}),
  /** Where the change came from; `salesforce` marks the bridge's own writes coming back. */
  source: z.string().min(1),
})
export type CohortUserEvent = z.infer<typeof CohortUserEvent>

/** The topic key of an event: one user's events stay in order. */
export function cohortEventKeyOf(event: Pick<CohortUserEvent, 'merchantId' | 'userId'>): string {
  return `${event.merchantId}:${event.userId}`
}

/** The parsed form the exporter works with. */
export type UserEvent = CohortUserEvent

export type ParsedEvent = { ok: true; event: UserEvent } | { ok: false; reason: string }

/** A topic message as an event; a message that is not JSON or breaks the schema says why (a dead letter). */
export function parseUserEvent(value: Buffer | string | null | undefined): ParsedEvent {
  if (value === null || value === undefined) return { ok: false, reason: 'the message has no value' }
  let json: unknown
  try {
    json = JSON.parse(value.toString())
  } catch (err) {
    return { ok: false, reason: `not JSON: ${(err as Error).message}` }
  }
  // Nearly every message is well formed: checked by hand, zod only says why one is not.
  const fast = asUserEvent(json)
  if (fast) return { ok: true, event: fast }
  const parsed = CohortUserEvent.safeParse(json)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    return { ok: false, reason: `breaks the user event schema: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'}` }
  }
  return { ok: true, event: parsed.data }
}

const EVENT_TYPES: ReadonlySet<unknown> = new Set(CohortEventType.options)
/** The very pattern `z.iso.datetime({ offset: true })` checks with. */
const DATETIME = regexes.datetime({ offset: true })
const text = (v: unknown, min: number, max: number): v is string => typeof v === 'string' && v.length >= min && v.length <= max
const isPropertyValue = (v: unknown) => v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))

/**
 * `json` as the schema would give it back (the same checks; unknown keys kept, `properties`
 * defaulted), or null when any check fails. The exporter parses every message of every batch;
 * zod made this several times dearer than JSON.parse.
 */
function asUserEvent(json: unknown): UserEvent | null {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return null
  const m = json as Record<string, unknown>
  if (!text(m.id, 1, 256) || !EVENT_TYPES.has(m.type) || !text(m.merchantId, 1, 128) || !text(m.userId, 1, 256) || !text(m.email, 0, 320)) return null
  if (typeof m.occurredAt !== 'string' || !DATETIME.test(m.occurredAt)) return null
  if (!Number.isSafeInteger(m.version) || (m.version as number) < 0 || !text(m.source, 1, Number.POSITIVE_INFINITY)) return null
  const { properties } = m
  if (properties === undefined) return { ...m, properties: {} } as UserEvent
  if (properties === null || typeof properties !== 'object' || Object.getPrototypeOf(properties) !== Object.prototype) return null
  for (const value of Object.values(properties)) if (!isPropertyValue(value)) return null
  return m as UserEvent
}
