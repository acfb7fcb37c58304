/**
 * The Cohort stand-in's in-memory data: merchants, their users (email unique per merchant,
 * compared trimmed and case-insensitively) and typed user properties. Every change goes
 * through `applyCreate` / `applyUpdate` / `applyDelete`, which return the user event to publish.
 * Kept compact (numbers for times, one Map per index) so a million users fit comfortably.
 */
import { randomBytes } from 'node:crypto'

export type PropertyType = 'text' | 'number' | 'boolean' | 'date'
export type PropertyValue = string | number | boolean | null
export type EventSource = 'salesforce' | 'dashboard' | 'api'
export type EventType = 'user.created' | 'user.properties.updated' | 'user.deleted'

export interface PropertyDefinition {
  key: string
  name: string
  type: PropertyType
}

interface StoredUser {
  id: string
  email: string
  properties: Record<string, PropertyValue>
  version: number
  createdAt: number
  updatedAt: number
}

/** The wire shape of contracts §4. */
export interface User {
  id: string
  email: string
  properties: Record<string, PropertyValue>
  version: number
  createdAt: string
  updatedAt: string
}

/** The user event of contracts §3. */
export interface UserEvent {
  id: string
  type: EventType
  merchantId: string
  userId: string
  email: string
  occurredAt: string
  version: number
  properties: Record<string, PropertyValue>
  source: EventSource
}

/** A refusal of one item, with the contract's code. */
export class CohortRefusal extends Error {
  readonly code: string
  constructor(code: string, message: string) {
    super(message)
    this.code = code
  }
}

interface Merchant {
  id: string
  users: Map<string, StoredUser>
  byEmail: Map<string, string>
  /** Insertion order for cursor paging; deleted users leave a null behind. */
  order: (string | null)[]
  properties: Map<string, PropertyDefinition>
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/
const PROPERTY_KEY = /^[a-z][a-z0-9_]{0,63}$/
const ISO_DATE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/

export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase()
}

let idCounter = 0
/** Sortable ids: time, a counter, and randomness (`u_…`, `evt_…`). */
export function newId(prefix: string): string {
  idCounter = (idCounter + 1) % 0xffffff
  return `${prefix}_${Date.now().toString(36)}${idCounter.toString(36).padStart(5, '0')}${randomBytes(4).toString('hex')}`
}

function toWire(u: StoredUser): User {
  return { id: u.id, email: u.email, properties: { ...u.properties }, version: u.version, createdAt: new Date(u.createdAt).toISOString(), updatedAt: new Date(u.updatedAt).toISOString() }
}

/** Checks one value against its property's type; null always clears. */
export function checkValue(definition: PropertyDefinition, value: unknown): PropertyValue {
  if (value === null) return null
  const ok =
    (definition.type === 'text' && typeof value === 'string') ||
    (definition.type === 'number' && typeof value === 'number' && Number.isFinite(value)) ||
    (definition.type === 'boolean' && typeof value === 'boolean') ||
    (definition.type === 'date' && typeof value === 'string' && ISO_DATE.test(value) && !Number.isNaN(Date.parse(value)))
  if (!ok) throw new CohortRefusal('property.invalid-value', `property "${definition.key}" expects a ${definition.type}, got ${JSON.stringify(value)}`)
  return value as PropertyValue
}

export interface CohortModel {
  reset(): void
  ensureMerchant(id: string): void
  hasMerchant(id: string): boolean
  listProperties(merchantId: string): PropertyDefinition[]
  /** Throws `property.already-exists` or `property.invalid-definition`. */
  defineProperty(merchantId: string, definition: PropertyDefinition): PropertyDefinition
  getUser(merchantId: string, userId: string): User | null
  lookup(merchantId: string, emails: string[]): User[]
  /** One page in insertion order; the cursor is opaque. */
  page(merchantId: string, cursor: string | null, limit: number): { data: User[]; nextCursor: string | null }
  /** `autoDefine`: unknown properties become `text` (the admin API) instead of refusing. */
  applyCreate(merchantId: string, email: string, properties: Record<string, unknown>, source: EventSource, options?: { autoDefine?: boolean }): { user: User; event: UserEvent }
  applyUpdate(merchantId: string, userId: string, properties: Record<string, unknown>, source: EventSource, options?: { autoDefine?: boolean }): { user: User; event: UserEvent | null }
  applyDelete(merchantId: string, userId: string, source: EventSource): UserEvent
  /** Refuses the whole list when any email is invalid, taken, or repeated within it. */
  validateNew(merchantId: string, users: { email: string }[]): void
  /** Fast path for seeding: no events, no per-user wire objects; all or nothing; returns the new ids. */
  seed(merchantId: string, users: { email: string; properties?: Record<string, unknown> }[]): string[]
  countUsers(merchantId: string): number
  listUsers(merchantId: string, offset: number, limit: number): { users: User[]; total: number }
}

export function createCohortModel(): CohortModel {
  const merchants = new Map<string, Merchant>()

  const merchantOf = (id: string): Merchant => {
    const m = merchants.get(id)
    if (!m) throw new CohortRefusal('merchant.not-found', `merchant "${id}" does not exist`)
    return m
  }

  const checkProperties = (m: Merchant, properties: Record<string, unknown>, autoDefine: boolean): Record<string, PropertyValue> => {
    const checked: Record<string, PropertyValue> = {}
    for (const [key, value] of Object.entries(properties)) {
      let definition = m.properties.get(key)
      if (!definition && autoDefine && PROPERTY_KEY.test(key)) {
        definition = { key, name: key, type: 'text' }
        m.properties.set(key, definition)
      }
      if (!definition) throw new CohortRefusal('property.unknown', `property "${key}" is not defined`)
      checked[key] = checkValue(definition, value)
    }
    return checked
  }

  const event = (m: Merchant, u: StoredUser, type: EventType, properties: Record<string, PropertyValue>, source: EventSource): UserEvent => ({
    id: newId('evt'),
    type,
    merchantId: m.id,
    userId: u.id,
    email: u.email,
    occurredAt: new Date(u.updatedAt).toISOString(),
    version: u.version,
    properties,
    source,
  })

  const insert = (m: Merchant, email: string, properties: Record<string, PropertyValue>, now: number): StoredUser => {
    const user: StoredUser = { id: newId('u'), email, properties, version: 1, createdAt: now, updatedAt: now }
    m.users.set(user.id, user)
    m.byEmail.set(normaliseEmail(email), user.id)
    m.order.push(user.id)
    return user
  }

  const checkEmail = (m: Merchant, raw: unknown): string => {
    const email = typeof raw === 'string' ? raw.trim() : ''
    if (!EMAIL.test(email)) throw new CohortRefusal('user.invalid-email', `"${String(raw)}" is not an email address`)
    if (m.byEmail.has(normaliseEmail(email))) throw new CohortRefusal('user.already-exists', `a user with email ${email} already exists`)
    return email
  }

  function validateNew(merchantId: string, users: { email: string }[]): void {
    const m = merchantOf(merchantId)
    const batch = new Set<string>()
    users.forEach((u, i) => {
      const email = checkEmail(m, u.email)
      const key = normaliseEmail(email)
      if (batch.has(key)) throw new CohortRefusal('user.already-exists', `users[${i}]: ${email} appears twice`)
      batch.add(key)
    })
  }

  return {
    reset: () => merchants.clear(),

    ensureMerchant(id) {
      if (!merchants.has(id)) merchants.set(id, { id, users: new Map(), byEmail: new Map(), order: [], properties: new Map() })
    },

    hasMerchant: (id) => merchants.has(id),

    listProperties: (merchantId) => [...merchantOf(merchantId).properties.values()],

    defineProperty(merchantId, definition) {
      const m = merchantOf(merchantId)
      if (!PROPERTY_KEY.test(definition.key)) throw new CohortRefusal('property.invalid-definition', `key "${definition.key}" must match ${PROPERTY_KEY}`)
      if (!['text', 'number', 'boolean', 'date'].includes(definition.type)) throw new CohortRefusal('property.invalid-definition', `type must be text, number, boolean or date`)
      if (m.properties.has(definition.key)) throw new CohortRefusal('property.already-exists', `property "${definition.key}" already exists`)
      const stored = { key: definition.key, name: definition.name || definition.key, type: definition.type }
      m.properties.set(stored.key, stored)
      return stored
    },

    getUser(merchantId, userId) {
      const u = merchantOf(merchantId).users.get(userId)
      return u ? toWire(u) : null
    },

    lookup(merchantId, emails) {
      const m = merchantOf(merchantId)
      const found: User[] = []
      const seen = new Set<string>()
      for (const email of emails) {
        const id = m.byEmail.get(normaliseEmail(String(email)))
        if (id && !seen.has(id)) {
          seen.add(id)
          found.push(toWire(m.users.get(id)!))
        }
      }
      return found
    },

    page(merchantId, cursor, limit) {
      const m = merchantOf(merchantId)
      let index = 0
      if (cursor !== null) {
        index = Number.parseInt(Buffer.from(cursor, 'base64url').toString('utf8'), 10)
        if (!Number.isInteger(index) || index < 0) throw new CohortRefusal('request.invalid', 'cursor is not valid')
      }
      const data: User[] = []
      while (index < m.order.length && data.length < limit) {
        const id = m.order[index++]
        const u = id ? m.users.get(id) : undefined
        if (u) data.push(toWire(u))
      }
      while (index < m.order.length && m.order[index] === null) index++
      return { data, nextCursor: index < m.order.length ? Buffer.from(String(index)).toString('base64url') : null }
    },

    applyCreate(merchantId, rawEmail, properties, source, options = {}) {
      const m = merchantOf(merchantId)
      const email = checkEmail(m, rawEmail)
      const checked = checkProperties(m, properties ?? {}, options.autoDefine ?? false)
      const user = insert(m, email, checked, Date.now())
      return { user: toWire(user), event: event(m, user, 'user.created', { ...checked }, source) }
    },

    applyUpdate(merchantId, userId, properties, source, options = {}) {
      const m = merchantOf(merchantId)
      const user = m.users.get(userId)
      if (!user) throw new CohortRefusal('user.not-found', `user "${userId}" does not exist`)
      const checked = checkProperties(m, properties ?? {}, options.autoDefine ?? false)
      const changed: Record<string, PropertyValue> = {}
      for (const [key, value] of Object.entries(checked)) {
        const before = Object.hasOwn(user.properties, key) ? user.properties[key] ?? null : null
        if (before !== value) changed[key] = value
      }
      if (Object.keys(changed).length === 0) return { user: toWire(user), event: null }
      for (const [key, value] of Object.entries(changed)) {
        if (value === null) delete user.properties[key]
        else user.properties[key] = value
      }
      user.version++
      user.updatedAt = Math.max(Date.now(), user.updatedAt)
      return { user: toWire(user), event: event(m, user, 'user.properties.updated', changed, source) }
    },

    applyDelete(merchantId, userId, source) {
      const m = merchantOf(merchantId)
      const user = m.users.get(userId)
      if (!user) throw new CohortRefusal('user.not-found', `user "${userId}" does not exist`)
      m.users.delete(userId)
      m.byEmail.delete(normaliseEmail(user.email))
      const at = m.order.indexOf(userId)
      if (at >= 0) m.order[at] = null
      user.version++
      user.updatedAt = Math.max(Date.now(), user.updatedAt)
      return event(m, user, 'user.deleted', {}, source)
    },

    validateNew,

    seed(merchantId, users) {
      const m = merchantOf(merchantId)
      validateNew(merchantId, users)
      const checked = users.map((u) => checkProperties(m, u.properties ?? {}, true))
      const now = Date.now()
      return users.map((u, i) => insert(m, u.email.trim(), checked[i]!, now).id)
    },

    countUsers: (merchantId) => merchantOf(merchantId).users.size,

    listUsers(merchantId, offset, limit) {
      const m = merchantOf(merchantId)
      const users: User[] = []
      let skipped = 0
      for (const id of m.order) {
        if (id === null) continue
        if (skipped++ < offset) continue
        if (users.length >= limit) break
        users.push(toWire(m.users.get(id)!))
      }
      return { users, total: m.users.size }
    },
  }
}
