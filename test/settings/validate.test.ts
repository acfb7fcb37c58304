/** The settings rules as pure functions, on describe data shaped like Salesforce's. */
import t from 'tap'
import type { FieldInfo } from '../../src/salesforce/describe.ts'
import { canExport, propertyKeyOf, propertyTypeOf, validateExport, validateImport } from '../../src/settings/validate.ts'

const field = (name: string, type: string, extra: Partial<FieldInfo> = {}): FieldInfo => ({
  name, label: name, type, length: type === 'string' ? 255 : 0, nillable: true, readable: true, createable: true, updateable: true, defaultedOnCreate: false,
  emailCapable: type === 'email' || type === 'string', ...extra,
})

const fields = [
  field('Id', 'id', { createable: false, updateable: false }),
  field('Email', 'email'),
  field('LastName', 'string', { nillable: false }),
  field('Company', 'string', { nillable: false }),
  field('Region__c', 'picklist', { nillable: false }),
  field('Status', 'picklist', { nillable: false, defaultedOnCreate: true }),
  field('Title', 'string'),
  field('Loyalty_Tier__c', 'picklist'),
  field('Points__c', 'double'),
  field('Opt_In__c', 'boolean', { nillable: false }),
  field('Since__c', 'date'),
  field('Cohort_User_Id__c', 'string', { length: 64 }),
  field('Short_Id__c', 'string', { length: 18 }),
  field('Locked__c', 'string', { updateable: false }),
  field('Geo__c', 'location'),
]
const objects = [{ name: 'Lead', label: 'Lead', custom: false, cdcChannel: '/data/LeadChangeEvent' }]
const imported = { enabled: true, object: 'Lead', emailField: 'Email', mode: 'all' as const, fields: [] }
const properties = [
  { key: 'points', name: 'Points', type: 'number' as const },
  { key: 'tier', name: 'Tier', type: 'text' as const },
  { key: 'vip', name: 'VIP', type: 'boolean' as const },
  { key: 'since', name: 'Since', type: 'date' as const },
]

t.test('property keys and types follow the contract', async (t) => {
  t.equal(propertyKeyOf('Loyalty_Tier__c'), 'loyalty_tier')
  t.equal(propertyKeyOf('Title'), 'title')
  t.equal(propertyKeyOf('FirstName'), 'first_name')
  t.equal(propertyKeyOf('ns__Score__c'), 'ns_score')
  t.equal(propertyKeyOf('X1st_Purchase__c'), 'x1st_purchase')
  for (const type of ['string', 'email', 'phone', 'url', 'textarea', 'picklist', 'multipicklist', 'id', 'reference']) t.equal(propertyTypeOf(type), 'text', type)
  for (const type of ['int', 'double', 'currency', 'percent']) t.equal(propertyTypeOf(type), 'number', type)
  t.equal(propertyTypeOf('boolean'), 'boolean')
  t.equal(propertyTypeOf('date'), 'date')
  t.equal(propertyTypeOf('datetime'), 'date')
  t.equal(propertyTypeOf('location'), null)
  t.ok(canExport('number', 'string'), 'anything goes into a text field')
  t.ok(canExport('number', 'currency'))
  t.notOk(canExport('text', 'double'))
  t.notOk(canExport('text', 'reference'))
})

t.test('import: resolved fields, and a 422 naming the request field for each rule', async (t) => {
  const ok = validateImport({ enabled: true, object: 'Lead', emailField: 'Email', mode: 'existing', fields: [{ field: 'Loyalty_Tier__c' }, { field: 'Points__c', property: 'points' }] }, { objects, fields }, null)
  t.same(ok, { enabled: true, object: 'Lead', emailField: 'Email', mode: 'existing', fields: [{ field: 'Loyalty_Tier__c', property: 'loyalty_tier', type: 'text' }, { field: 'Points__c', property: 'points', type: 'number' }] })
  const refusals: [object, string][] = [
    [{ object: 'Nope', emailField: 'Email' }, 'object'],
    [{ object: 'Lead', emailField: 'Missing__c' }, 'emailField'],
    [{ object: 'Lead', emailField: 'Points__c' }, 'emailField'],
    [{ object: 'Lead', emailField: 'Email', fields: [{ field: 'Missing__c' }] }, 'fields.0.field'],
    [{ object: 'Lead', emailField: 'Email', fields: [{ field: 'Title' }, { field: 'Geo__c' }] }, 'fields.1.field'],
    [{ object: 'Lead', emailField: 'Email', fields: [{ field: 'Title' }, { field: 'Loyalty_Tier__c', property: 'title' }] }, 'fields.1.property'],
  ]
  for (const [body, where] of refusals) {
    const known = (body as { object: string }).object === 'Lead'
    t.throws(() => validateImport({ enabled: true, mode: 'all', fields: [], ...body }, { objects, fields: known ? fields : null }, null), { code: 'settings.invalid', status: 422, field: where }, where)
  }
  t.same(validateImport({ enabled: false, mode: 'all', fields: [] }, { objects: [], fields: null }, ok), { ...ok, enabled: false }, 'off keeps the choices')
})

t.test('export: id field, mappings, defaults and required fields in mode all', async (t) => {
  const base = { enabled: true, cohortUserIdField: 'Cohort_User_Id__c', mode: 'existing' as const, mappings: [{ property: 'points', field: 'Points__c' }], createDefaults: {} }
  const ctx = { importSettings: imported, fields, properties }
  t.same(validateExport(base, ctx, null), { enabled: true, cohortUserIdField: 'Cohort_User_Id__c', mode: 'existing', mappings: base.mappings, createDefaults: {} })

  const refusals: [object, string][] = [
    [{ cohortUserIdField: 'Missing__c' }, 'cohortUserIdField'],
    [{ cohortUserIdField: 'Locked__c' }, 'cohortUserIdField'],
    [{ cohortUserIdField: 'Points__c' }, 'cohortUserIdField'],
    [{ cohortUserIdField: 'Short_Id__c' }, 'cohortUserIdField'],
    [{ mappings: [{ property: 'ghost', field: 'Title' }] }, 'mappings.0.property'],
    [{ mappings: [{ property: 'tier', field: 'Points__c' }] }, 'mappings.0.field'],
    [{ mappings: [{ property: 'tier', field: 'Locked__c' }] }, 'mappings.0.field'],
    [{ mappings: [{ property: 'tier', field: 'Title' }, { property: 'points', field: 'Title' }] }, 'mappings.1.field'],
    [{ mappings: [{ property: 'tier', field: 'Cohort_User_Id__c' }] }, 'mappings.0.field'],
    [{ createDefaults: { Id: 'x' } }, 'createDefaults.Id'],
    [{ createDefaults: { Company: null } }, 'createDefaults.Company'],
    [{ mode: 'all' }, 'createDefaults'],
  ]
  for (const [patch, where] of refusals) {
    t.throws(() => validateExport({ ...base, ...patch }, ctx, null), { code: 'settings.invalid', field: where }, where)
  }
  // Mode all: Region__c is required; LastName and Company are filled by the bridge, Status has a default, booleans are never empty.
  t.throws(() => validateExport({ ...base, mode: 'all' }, ctx, null), /Region__c is required/)
  t.ok(validateExport({ ...base, mode: 'all', createDefaults: { Region__c: 'EMEA' } }, ctx, null))
  t.ok(validateExport({ ...base, mode: 'all', mappings: [...base.mappings, { property: 'tier', field: 'Region__c' }] }, ctx, null))
  t.same(validateExport({ ...base, enabled: false }, ctx, { enabled: true, cohortUserIdField: 'X' }), { enabled: false, cohortUserIdField: 'X' })
})
