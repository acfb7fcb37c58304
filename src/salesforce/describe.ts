/**
 * What the connected Salesforce user can see: queryable objects and their fields, from the
 * describe calls, cached per merchant (lru-cache, 10 minutes) and refreshed on demand.
 */
import { LRUCache } from 'lru-cache'
import { AppError } from '../errors.ts'
import type { SalesforceConnections } from './connections.ts'
import { toSalesforceError, withSalesforceDeadline } from './errors.ts'

export interface ObjectInfo {
  name: string
  label: string
  custom: boolean
  /** The CDC channel of the object (`/data/ContactChangeEvent`, `/data/Member__ChangeEvent`). */
  cdcChannel: string
}

export interface FieldInfo {
  name: string
  label: string
  /** As Salesforce names it: string, email, picklist, double, date, reference, … */
  type: string
  length: number
  nillable: boolean
  readable: boolean
  createable: boolean
  updateable: boolean
  defaultedOnCreate: boolean
  emailCapable: boolean
}

/** What writing a value into a field needs beyond {@link FieldInfo} (export's conversion). */
export interface FieldDetail extends FieldInfo {
  /** Digits in all (double, currency, percent). */
  precision: number
  /** Digits after the point (double, currency, percent). */
  scale: number
  /** Digits of an int. */
  digits: number
  /** Active picklist values. */
  picklistValues: string[]
  restrictedPicklist: boolean
}

export interface DescribeService {
  objects(merchantId: string, options?: { refresh?: boolean }): Promise<ObjectInfo[]>
  /** `not-found` when the object does not exist or is not visible to the connected user. */
  fields(merchantId: string, object: string, options?: { refresh?: boolean }): Promise<FieldInfo[]>
  /** The fields with what writing them needs (precision, picklist values…); cached like `fields`. */
  fieldDetails(merchantId: string, object: string, options?: { refresh?: boolean }): Promise<FieldDetail[]>
  forget(merchantId: string): void
}

// System objects no one keeps customers in: change events, history, sharing, feeds, metadata.
const NOT_CUSTOMER_OBJECTS = /(ChangeEvent|History|Share|Feed|__mdt|__e|__x|__b)$/

export function cdcChannelOf(object: string): string {
  return object.endsWith('__c') ? `/data/${object.slice(0, -1)}ChangeEvent` : `/data/${object}ChangeEvent`
}

interface RawField {
  name: string
  label: string
  type: string
  length?: number
  nillable?: boolean
  createable?: boolean
  updateable?: boolean
  defaultedOnCreate?: boolean
  precision?: number | null
  scale?: number | null
  digits?: number | null
  picklistValues?: Array<{ value: string; active?: boolean }> | null
  restrictedPicklist?: boolean | null
}

function toFieldDetail(f: RawField): FieldDetail {
  return {
    ...toFieldInfo(f),
    precision: f.precision ?? 0,
    scale: f.scale ?? 0,
    digits: f.digits ?? 0,
    picklistValues: (f.picklistValues ?? []).filter((v) => v.active !== false).map((v) => v.value),
    restrictedPicklist: f.restrictedPicklist ?? false,
  }
}

function toFieldInfo(f: RawField): FieldInfo {
  return {
    name: f.name,
    label: f.label,
    type: f.type,
    length: f.length ?? 0,
    nillable: f.nillable ?? true,
    // Describe only lists fields the user can read (field-level security hides the rest).
    readable: true,
    createable: f.createable ?? false,
    updateable: f.updateable ?? false,
    defaultedOnCreate: f.defaultedOnCreate ?? false,
    emailCapable: f.type === 'email' || f.type === 'string',
  }
}

export function createDescribeService(connections: SalesforceConnections): DescribeService {
  const objectsCache = new LRUCache<string, ObjectInfo[]>({ max: 10_000, ttl: 600_000 })
  const fieldsCache = new LRUCache<string, FieldDetail[]>({ max: 50_000, ttl: 600_000 })

  return {
    async objects(merchantId, options = {}) {
      const cached = options.refresh ? undefined : objectsCache.get(merchantId)
      if (cached) return cached
      const conn = await connections.get(merchantId)
      let result: { sobjects: { name: string; label: string; custom: boolean; queryable: boolean; retrieveable?: boolean; deprecatedAndHidden?: boolean }[] }
      try {
        result = await withSalesforceDeadline(conn.describeGlobal(), 'describeGlobal')
      } catch (err) {
        throw toSalesforceError(err, 'describeGlobal')
      }
      const objects = result.sobjects
        .filter((o) => o.queryable && o.retrieveable !== false && !o.deprecatedAndHidden && !NOT_CUSTOMER_OBJECTS.test(o.name))
        .map((o) => ({ name: o.name, label: o.label, custom: o.custom, cdcChannel: cdcChannelOf(o.name) }))
        .sort((a, b) => a.label.localeCompare(b.label))
      objectsCache.set(merchantId, objects)
      return objects
    },

    async fields(merchantId, object, options = {}) {
      return (await this.fieldDetails(merchantId, object, options)).map(({ precision: _p, scale: _s, digits: _d, picklistValues: _v, restrictedPicklist: _r, ...info }) => info)
    },

    async fieldDetails(merchantId, object, options = {}) {
      const key = `${merchantId}\u0000${object}`
      const cached = options.refresh ? undefined : fieldsCache.get(key)
      if (cached) return cached
      if (!/^[A-Za-z][A-Za-z0-9_]{0,79}$/.test(object)) throw new AppError('not-found', `no object ${object}`)
      const conn = await connections.get(merchantId)
      let described: { fields: RawField[] }
      try {
        described = await withSalesforceDeadline(conn.describe(object), `describe ${object}`)
      } catch (err) {
        throw toSalesforceError(err, `describe ${object}`)
      }
      const fields = described.fields.map(toFieldDetail)
      fieldsCache.set(key, fields)
      return fields
    },

    forget(merchantId) {
      objectsCache.delete(merchantId)
      for (const key of fieldsCache.keys()) if (key.startsWith(`${merchantId}\u0000`)) fieldsCache.delete(key)
    },
  }
}
