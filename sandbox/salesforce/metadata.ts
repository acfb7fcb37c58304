/**
 * The objects the stand-in serves (Contact, Lead, Account and the custom Member__c) and their
 * describe / describeGlobal answers. Metadata is the same in both orgs and never changes.
 */
import {
  address, bool, compoundName, currency, date, datetime, describeField, double, email, int, ownerField, percent, phone,
  picklist, reference, systemFields, text, textarea, url, type FieldDef,
} from './fields.ts'

export interface SObjectDef {
  name: string
  label: string
  labelPlural: string
  keyPrefix: string
  custom: boolean
  fields: FieldDef[]
  /** Lower-cased field name → field (SOQL and JSON bodies are case-insensitive). */
  fieldsByLower: Map<string, FieldDef>
}

const LEAD_SOURCES = ['Web', 'Phone Inquiry', 'Partner Referral', 'Purchased List', 'Other', 'Cohort']
const TIERS = ['Bronze', 'Silver', 'Gold', 'Platinum']

/** Custom fields the bridge imports and exports, present on Contact and Lead. */
function cohortFields(): FieldDef[] {
  return [
    text('Cohort_User_Id__c', 'Cohort User Id', 64, { externalId: true, idLookup: true }),
    double('Cohort_Points__c', 'Cohort Points', 18, 0),
    picklist('Loyalty_Tier__c', 'Loyalty Tier', TIERS),
    date('Cohort_Member_Since__c', 'Cohort Member Since'),
    bool('Cohort_Opt_In__c', 'Cohort Opt In'),
    datetime('Cohort_Last_Seen__c', 'Cohort Last Seen'),
    currency('Cohort_Lifetime_Value__c', 'Cohort Lifetime Value', 16, 2),
    percent('Cohort_Engagement__c', 'Cohort Engagement', 5, 2),
    url('Cohort_Profile_Url__c', 'Cohort Profile URL'),
    textarea('Cohort_Notes__c', 'Cohort Notes', 32768),
  ]
}

function defineObject(name: string, label: string, labelPlural: string, keyPrefix: string, fields: FieldDef[]): SObjectDef {
  const sorted = [...fields]
  return {
    name, label, labelPlural, keyPrefix, custom: name.endsWith('__c'), fields: sorted,
    fieldsByLower: new Map(sorted.map((f) => [f.name.toLowerCase(), f])),
  }
}

const [id, isDeleted, ...audit] = systemFields('Contact')

const contact = defineObject('Contact', 'Contact', 'Contacts', '003', [
  id!, isDeleted!,
  reference('MasterRecordId', 'Master Record ID', 'Contact', 'MasterRecord', { createable: false, updateable: false }),
  reference('AccountId', 'Account ID', 'Account', 'Account'),
  ...compoundName('Full Name'),
  ...address('Mailing', 'Mailing'),
  phone('Phone', 'Business Phone'),
  phone('MobilePhone', 'Mobile Phone'),
  email('Email', 'Email'),
  text('Title', 'Title', 128),
  text('Department', 'Department', 80),
  picklist('LeadSource', 'Lead Source', LEAD_SOURCES),
  date('Birthdate', 'Birthdate'),
  textarea('Description', 'Contact Description', 32000),
  ownerField(),
  bool('HasOptedOutOfEmail', 'Email Opt Out'),
  bool('DoNotCall', 'Do Not Call'),
  ...audit,
  date('LastActivityDate', 'Last Activity', { createable: false, updateable: false }),
  ...cohortFields(),
])

const lead = defineObject('Lead', 'Lead', 'Leads', '00Q', [
  ...systemFields('Lead').slice(0, 2),
  reference('MasterRecordId', 'Master Record ID', 'Lead', 'MasterRecord', { createable: false, updateable: false }),
  ...compoundName('Full Name'),
  text('Title', 'Title', 128),
  text('Company', 'Company', 255, { nillable: false }),
  ...address('', 'Lead'),
  phone('Phone', 'Phone'),
  phone('MobilePhone', 'Mobile Phone'),
  email('Email', 'Email'),
  url('Website', 'Website'),
  textarea('Description', 'Description', 32000),
  picklist('LeadSource', 'Lead Source', LEAD_SOURCES),
  picklist('Status', 'Status', ['Open - Not Contacted', 'Working - Contacted', 'Closed - Converted', 'Closed - Not Converted'], {
    nillable: false, defaultPick: 'Open - Not Contacted', restrictedPicklist: true,
  }),
  picklist('Industry', 'Industry', ['Agriculture', 'Banking', 'Retail', 'Technology', 'Other']),
  picklist('Rating', 'Rating', ['Hot', 'Warm', 'Cold']),
  currency('AnnualRevenue', 'Annual Revenue', 18, 0),
  int('NumberOfEmployees', 'Employees', 8),
  ownerField(),
  bool('HasOptedOutOfEmail', 'Email Opt Out'),
  bool('IsConverted', 'Converted', { createable: false, updateable: false }),
  date('ConvertedDate', 'Converted Date', { createable: false, updateable: false }),
  bool('IsUnreadByOwner', 'Unread By Owner'),
  ...systemFields('Lead').slice(2),
  date('LastActivityDate', 'Last Activity', { createable: false, updateable: false }),
  ...cohortFields(),
])

// Lead's address components carry no prefix, but the compound is called `Address`, not `Address`+`Address`.
for (const f of lead.fields) {
  if (f.compoundFieldName === 'Address') f.label = f.label.replace('Lead ', '')
}

const account = defineObject('Account', 'Account', 'Accounts', '001', [
  ...systemFields('Account').slice(0, 2),
  reference('MasterRecordId', 'Master Record ID', 'Account', 'MasterRecord', { createable: false, updateable: false }),
  text('Name', 'Account Name', 255, { nillable: false, nameField: true }),
  picklist('Type', 'Account Type', ['Prospect', 'Customer - Direct', 'Customer - Channel', 'Partner', 'Other']),
  reference('ParentId', 'Parent Account ID', 'Account', 'Parent'),
  ...address('Billing', 'Billing'),
  phone('Phone', 'Account Phone'),
  url('Website', 'Website'),
  picklist('Industry', 'Industry', ['Agriculture', 'Banking', 'Retail', 'Technology', 'Other']),
  currency('AnnualRevenue', 'Annual Revenue', 18, 0),
  int('NumberOfEmployees', 'Employees', 8),
  textarea('Description', 'Account Description', 32000),
  ownerField(),
  ...systemFields('Account').slice(2),
  date('LastActivityDate', 'Last Activity', { createable: false, updateable: false }),
])

const member = defineObject('Member__c', 'Member', 'Members', 'a00', [
  ...systemFields('Record').slice(0, 2),
  ownerField(),
  // A text Name left empty on create takes the record's id, as in a real org.
  text('Name', 'Member Name', 80, { nameField: true, nillable: true, defaultedOnCreate: true }),
  ...systemFields('Record').slice(2),
  date('LastActivityDate', 'Last Activity Date', { createable: false, updateable: false }),
  email('Email__c', 'Email', { idLookup: false }),
  reference('Contact__c', 'Contact', 'Contact', 'Contact__r'),
  double('Points__c', 'Points', 18, 0),
  picklist('Tier__c', 'Tier', TIERS, { restrictedPicklist: true }),
  date('Joined__c', 'Joined'),
  bool('Active__c', 'Active'),
  text('Cohort_User_Id__c', 'Cohort User Id', 64, { externalId: true, idLookup: true, unique: true }),
])

export const SOBJECTS: readonly SObjectDef[] = [account, contact, lead, member]

const byLower = new Map(SOBJECTS.map((o) => [o.name.toLowerCase(), o]))
const byPrefix = new Map(SOBJECTS.map((o) => [o.keyPrefix, o]))

/** The object named `name` (case-insensitive), if the stand-in serves it. */
export function findSObject(name: string): SObjectDef | undefined {
  return byLower.get(name.toLowerCase())
}

export function findSObjectByPrefix(id: string): SObjectDef | undefined {
  return byPrefix.get(id.slice(0, 3))
}

function objectFlags(o: SObjectDef, version: string): Record<string, unknown> {
  const base = `/services/data/v${version}/sobjects/${o.name}`
  return {
    activateable: false, associateEntityType: null, associateParentEntity: null,
    createable: true, custom: o.custom, customSetting: false, deepCloneable: false, deletable: true,
    deprecatedAndHidden: false, feedEnabled: !o.custom, hasSubtypes: false, isInterface: false, isSubtype: false,
    keyPrefix: o.keyPrefix, label: o.label, labelPlural: o.labelPlural, layoutable: true, mergeable: !o.custom,
    mruEnabled: true, name: o.name, queryable: true, replicateable: true, retrieveable: true, searchable: true,
    triggerable: true, undeletable: true, updateable: true,
    urls: {
      ...(o.custom ? {} : { compactLayouts: `${base}/describe/compactLayouts` }),
      rowTemplate: `${base}/{ID}`,
      defaultValues: `${base}/defaultValues?recordTypeId&fields`,
      describe: `${base}/describe`,
      sobject: base,
    },
  }
}

/** `GET /sobjects`. */
export function describeGlobal(version: string): Record<string, unknown> {
  return { encoding: 'UTF-8', maxBatchSize: 200, sobjects: SOBJECTS.map((o) => objectFlags(o, version)) }
}

/** `GET /sobjects/{Object}` (basic information). */
export function describeBasic(o: SObjectDef, version: string): Record<string, unknown> {
  return { objectDescribe: objectFlags(o, version), recentItems: [] }
}

const CHILDREN: Record<string, { childSObject: string; field: string; relationshipName: string }[]> = {
  Account: [{ childSObject: 'Contact', field: 'AccountId', relationshipName: 'Contacts' }],
  Contact: [{ childSObject: 'Member__c', field: 'Contact__c', relationshipName: 'Members__r' }],
}

/** `GET /sobjects/{Object}/describe`. */
export function describeSObject(o: SObjectDef, version: string): Record<string, unknown> {
  return {
    actionOverrides: [],
    ...objectFlags(o, version),
    childRelationships: (CHILDREN[o.name] ?? []).map((c) => ({
      cascadeDelete: false, childSObject: c.childSObject, deprecatedAndHidden: false, field: c.field,
      junctionIdListNames: [], junctionReferenceTo: [], relationshipName: c.relationshipName, restrictedDelete: false,
    })),
    compactLayoutable: true,
    defaultImplementation: null,
    extendedBy: null,
    extendsInterfaces: null,
    fields: o.fields.map(describeField),
    implementedBy: null,
    implementsInterfaces: null,
    listviewable: null,
    lookupLayoutable: null,
    namedLayoutInfos: [],
    networkScopeFieldName: null,
    recordTypeInfos: [{
      active: true, available: true, defaultRecordTypeMapping: true, developerName: 'Master', master: true,
      name: 'Master', recordTypeId: '012000000000000AAA',
      urls: { layout: `/services/data/v${version}/sobjects/${o.name}/describe/layouts/012000000000000AAA` },
    }],
    searchLayoutable: true,
    sobjectDescribeOption: 'FULL',
    supportedScopes: [{ label: 'All ' + o.labelPlural.toLowerCase(), name: 'everything' }, { label: 'My ' + o.labelPlural.toLowerCase(), name: 'mine' }],
  }
}
