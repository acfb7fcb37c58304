/**
 * Pending export changes of one merchant, coalesced per user: per property the highest
 * `version` wins (an equal or lower one changes nothing), the email is the one of the newest
 * event. Entries leave oldest first, so the oldest change decides when a flush is due. Each
 * entry has a promise that settles once what it holds is applied, recorded as an error, or
 * parked: the Kafka batches whose events went into it wait for that before their offsets move.
 */

/** One property's newest pending value. */
export interface PendingValue {
  value: unknown
  version: number
  /** When Cohort made the change (contracts §2: the newer change of a two-way field wins). */
  occurredAt: Date
  /** The bridge's own import (`source: "salesforce"`): written only where Salesforce differs. */
  fromSalesforce?: boolean
}

/** Everything to export for one user. */
export interface UserChange {
  userId: string
  email: string | null
  /** Mapped Cohort properties with their newest values. */
  properties: Record<string, PendingValue>
  /** Make sure the user has a record (mode `all`), even with no value to write. */
  ensure: boolean
  /** Version of the event the email came from. */
  emailVersion?: number
}

/** Fold `incoming` into `into` (in place): per property the higher version wins. */
export function mergeChange(into: UserChange, incoming: UserChange): UserChange {
  for (const [property, value] of Object.entries(incoming.properties)) {
    const seen = into.properties[property]
    if (!seen || value.version > seen.version) into.properties[property] = value
  }
  const incomingVersion = incoming.emailVersion ?? -1
  if (incoming.email && (into.email === null || incomingVersion >= (into.emailVersion ?? -1))) {
    into.email = incoming.email
    into.emailVersion = incomingVersion
  }
  into.ensure ||= incoming.ensure
  return into
}

export interface PendingEntry {
  change: UserChange
  /** When the entry's first change arrived (ms). */
  firstAt: number
  /** Settles once the entry is handled (applied, an error, parked) or its flush failed. */
  done: Promise<void>
  settle(error?: unknown): void
}

export interface Coalescer {
  /** Add a change; the entry it went into (a new one when the user's was taken). */
  add(change: UserChange, now?: number): PendingEntry
  /** Up to `max` entries, oldest first, removed from the pending set. */
  take(max: number): PendingEntry[]
  /** Remove the user's pending entry (a user.deleted), if any. */
  remove(userId: string): PendingEntry | undefined
  /** Entries pending. */
  readonly size: number
  /** When the oldest pending entry's first change arrived; null when none. */
  readonly oldestAt: number | null
}

function newEntry(change: UserChange, now: number): PendingEntry {
  let settle!: (error?: unknown) => void
  const done = new Promise<void>((resolve, reject) => {
    settle = (error?: unknown) => (error === undefined ? resolve() : reject(error))
  })
  // Nobody may be waiting (a change parked at once): an unobserved rejection is not a crash.
  done.catch(() => undefined)
  return { change: { ...change, properties: { ...change.properties } }, firstAt: now, done, settle }
}

export function createCoalescer(): Coalescer {
  // Insertion order is arrival order of each user's first pending change.
  const pending = new Map<string, PendingEntry>()
  return {
    add(change, now = Date.now()) {
      const entry = pending.get(change.userId)
      if (entry) {
        mergeChange(entry.change, change)
        return entry
      }
      const created = newEntry(change, now)
      pending.set(change.userId, created)
      return created
    },
    take(max) {
      const out: PendingEntry[] = []
      for (const [userId, entry] of pending) {
        if (out.length >= max) break
        out.push(entry)
        pending.delete(userId)
      }
      return out
    },
    remove(userId) {
      const entry = pending.get(userId)
      pending.delete(userId)
      return entry
    },
    get size() {
      return pending.size
    },
    get oldestAt() {
      for (const entry of pending.values()) return entry.firstAt
      return null
    },
  }
}
