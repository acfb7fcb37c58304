/**
 * Reading fields of stored records in REST form, including the derived ones: Id, IsDeleted,
 * audit fields, compound Name and addresses, and values left implicit to keep records small.
 */
import type { FieldDef } from './fields.ts'
import type { SObjectDef } from './metadata.ts'
import type { StoredRecord } from './records.ts'
import { formatDateTime, formatValue } from './values.ts'

/** The stored (comparable) value of a field: date-times as epoch ms, derived fields computed. */
export function rawValue(def: SObjectDef, field: FieldDef, r: StoredRecord): unknown {
  switch (field.derived) {
    case 'id': return r.id
    case 'isDeleted': return r.deleted
    case 'createdDate': return r.fields.CreatedDate ?? r.createdAt
    case 'createdById': return r.createdById
    case 'lastModifiedDate': return r.fields.LastModifiedDate ?? r.modifiedAt
    case 'lastModifiedById': return r.modifiedById
    case 'systemModstamp': return r.modifiedAt
    case 'name': {
      const first = r.fields.FirstName
      const last = r.fields.LastName
      return [first, last].filter((v) => typeof v === 'string' && v !== '').join(' ') || null
    }
    case 'address': {
      const p = field.addressPrefix ?? ''
      const parts = ['Street', 'City', 'State', 'PostalCode', 'Country'].map((c) => r.fields[`${p}${c}`] ?? null)
      if (parts.every((v) => v === null)) return null
      const [street, city, state, postalCode, country] = parts
      return { city, country, geocodeAccuracy: null, latitude: null, longitude: null, postalCode, state, street }
    }
  }
  const v = r.fields[field.name]
  if (v !== undefined) return v
  if (field.type === 'boolean' && !field.nillable) return false
  if (field.name === 'OwnerId') return r.createdById
  if (field.name === 'Name' && def.custom) return r.id
  return null
}

/** A field's value as REST JSON shows it. */
export function readValue(def: SObjectDef, field: FieldDef, r: StoredRecord): unknown {
  const v = rawValue(def, field, r)
  if (typeof v === 'number' && field.type === 'datetime') return formatDateTime(v)
  return formatValue(field, v)
}

/** `attributes` of a record in REST answers. */
export function attributesOf(def: SObjectDef, id: string, version: string): { type: string; url: string } {
  return { type: def.name, url: `/services/data/v${version}/sobjects/${def.name}/${id}` }
}

/** A record with `attributes` and the given fields (all fields when omitted), in REST form. */
export function readRecord(def: SObjectDef, r: StoredRecord, version: string, fields: FieldDef[] = def.fields): Record<string, unknown> {
  const out: Record<string, unknown> = { attributes: attributesOf(def, r.id, version) }
  for (const f of fields) out[f.name] = readValue(def, f, r)
  return out
}

const NOT_IN_EVENTS = new Set(['Id', 'IsDeleted', 'SystemModstamp'])

/** A record's non-null values in REST form, as a CREATE/UNDELETE change carries them. */
export function valuesOf(def: SObjectDef, r: StoredRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const f of def.fields) {
    if (NOT_IN_EVENTS.has(f.name) || f.type === 'address') continue
    const v = readValue(def, f, r)
    if (v !== null) out[f.name] = v
  }
  return out
}
