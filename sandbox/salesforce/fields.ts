/**
 * Field metadata builders: one small constructor per Salesforce field type, each filling every
 * key the describe call returns with the values a real org shows for that type.
 */

export type FieldType =
  | 'id' | 'string' | 'email' | 'phone' | 'url' | 'textarea' | 'picklist' | 'boolean' | 'int' | 'double'
  | 'currency' | 'percent' | 'date' | 'datetime' | 'reference' | 'address'

/** Where a field's value comes from when it is not stored as written. */
export type Derived = 'id' | 'isDeleted' | 'createdDate' | 'createdById' | 'lastModifiedDate' | 'lastModifiedById' | 'systemModstamp' | 'name' | 'address'

export interface PicklistValue { value: string; label: string; active: boolean; defaultValue: boolean; validFor: null }

export interface FieldDef {
  name: string
  label: string
  type: FieldType
  length: number
  precision: number
  scale: number
  digits: number
  nillable: boolean
  createable: boolean
  updateable: boolean
  defaultedOnCreate: boolean
  /** Value filled on create when none is given (picklist default, boolean false…). */
  defaultValue: string | boolean | number | null
  custom: boolean
  unique: boolean
  externalId: boolean
  idLookup: boolean
  nameField: boolean
  referenceTo: string[]
  relationshipName: string | null
  picklistValues: PicklistValue[]
  restrictedPicklist: boolean
  compoundFieldName: string | null
  /** For compound fields: the component prefix (`Mailing` for MailingAddress, `` for Lead Address). */
  derived?: Derived
  addressPrefix?: string
}

const SOAP_TYPE: Record<FieldType, string> = {
  id: 'tns:ID', string: 'xsd:string', email: 'xsd:string', phone: 'xsd:string', url: 'xsd:string', textarea: 'xsd:string',
  picklist: 'xsd:string', boolean: 'xsd:boolean', int: 'xsd:int', double: 'xsd:double', currency: 'xsd:double',
  percent: 'xsd:double', date: 'xsd:date', datetime: 'xsd:dateTime', reference: 'tns:ID', address: 'urn:address',
}

type Options = Partial<Omit<FieldDef, 'name' | 'label' | 'type'>>

function base(name: string, label: string, type: FieldType, options: Options): FieldDef {
  return {
    name, label, type,
    length: 0, precision: 0, scale: 0, digits: 0,
    nillable: true, createable: true, updateable: true, defaultedOnCreate: false, defaultValue: null,
    custom: name.endsWith('__c'), unique: false, externalId: false, idLookup: false, nameField: false,
    referenceTo: [], relationshipName: null, picklistValues: [], restrictedPicklist: false, compoundFieldName: null,
    ...options,
  }
}

export const text = (name: string, label: string, length: number, o: Options = {}) => base(name, label, 'string', { length, ...o })
export const email = (name: string, label: string, o: Options = {}) => base(name, label, 'email', { length: 80, idLookup: true, ...o })
export const phone = (name: string, label: string, o: Options = {}) => base(name, label, 'phone', { length: 40, ...o })
export const url = (name: string, label: string, o: Options = {}) => base(name, label, 'url', { length: 255, ...o })
export const textarea = (name: string, label: string, length: number, o: Options = {}) => base(name, label, 'textarea', { length, ...o })
export const bool = (name: string, label: string, o: Options = {}) =>
  base(name, label, 'boolean', { nillable: false, defaultedOnCreate: true, defaultValue: false, ...o })
export const int = (name: string, label: string, digits: number, o: Options = {}) => base(name, label, 'int', { digits, ...o })
export const double = (name: string, label: string, precision: number, scale: number, o: Options = {}) =>
  base(name, label, 'double', { precision, scale, ...o })
export const currency = (name: string, label: string, precision: number, scale: number, o: Options = {}) =>
  base(name, label, 'currency', { precision, scale, ...o })
export const percent = (name: string, label: string, precision: number, scale: number, o: Options = {}) =>
  base(name, label, 'percent', { precision, scale, ...o })
export const date = (name: string, label: string, o: Options = {}) => base(name, label, 'date', o)
export const datetime = (name: string, label: string, o: Options = {}) => base(name, label, 'datetime', o)
export const reference = (name: string, label: string, to: string, relationshipName: string, o: Options = {}) =>
  base(name, label, 'reference', { length: 18, referenceTo: [to], relationshipName, ...o })

export function picklist(name: string, label: string, values: string[], o: Options & { defaultPick?: string } = {}): FieldDef {
  const { defaultPick, ...rest } = o
  return base(name, label, 'picklist', {
    length: 255,
    picklistValues: values.map((v) => ({ value: v, label: v, active: true, defaultValue: v === defaultPick, validFor: null })),
    defaultValue: defaultPick ?? null,
    defaultedOnCreate: defaultPick !== undefined,
    ...rest,
  })
}

const READ_ONLY: Options = { createable: false, updateable: false }

/** The fields every object has: Id, IsDeleted, audit fields, SystemModstamp. */
export function systemFields(labelOfObject: string): FieldDef[] {
  const audit = { ...READ_ONLY, nillable: false, defaultedOnCreate: true }
  return [
    base('Id', `${labelOfObject} ID`, 'id', { ...audit, length: 18, idLookup: true, derived: 'id' }),
    bool('IsDeleted', 'Deleted', { ...READ_ONLY, derived: 'isDeleted' }),
    datetime('CreatedDate', 'Created Date', { ...audit, derived: 'createdDate' }),
    reference('CreatedById', 'Created By ID', 'User', 'CreatedBy', { ...audit, derived: 'createdById' }),
    datetime('LastModifiedDate', 'Last Modified Date', { ...audit, derived: 'lastModifiedDate' }),
    reference('LastModifiedById', 'Last Modified By ID', 'User', 'LastModifiedBy', { ...audit, derived: 'lastModifiedById' }),
    datetime('SystemModstamp', 'System Modstamp', { ...audit, derived: 'systemModstamp' }),
  ]
}

/** `OwnerId`: defaulted to the creating user. */
export function ownerField(): FieldDef {
  return reference('OwnerId', 'Owner ID', 'User', 'Owner', { nillable: false, defaultedOnCreate: true })
}

/** Compound Name of Contact and Lead (read-only; built from FirstName and LastName). */
export function compoundName(label: string): FieldDef[] {
  return [
    text('LastName', 'Last Name', 80, { nillable: false, compoundFieldName: 'Name' }),
    text('FirstName', 'First Name', 40, { compoundFieldName: 'Name' }),
    picklist('Salutation', 'Salutation', ['Mr.', 'Ms.', 'Mrs.', 'Dr.', 'Prof.'], { compoundFieldName: 'Name' }),
    text('Name', label, 121, { ...READ_ONLY, nameField: true, derived: 'name' }),
  ]
}

/** A compound address and its writable components (`Mailing` → MailingStreet, MailingAddress…). */
export function address(prefix: string, label: string): FieldDef[] {
  const compound = `${prefix}Address`
  return [
    textarea(`${prefix}Street`, `${label} Street`, 255, { compoundFieldName: compound }),
    text(`${prefix}City`, `${label} City`, 40, { compoundFieldName: compound }),
    text(`${prefix}State`, `${label} State/Province`, 80, { compoundFieldName: compound }),
    text(`${prefix}PostalCode`, `${label} Zip/Postal Code`, 20, { compoundFieldName: compound }),
    text(`${prefix}Country`, `${label} Country`, 80, { compoundFieldName: compound }),
    base(compound, `${label} Address`, 'address', { ...READ_ONLY, derived: 'address', addressPrefix: prefix }),
  ]
}

/** The describe entry of one field, with every key a real describe carries. */
export function describeField(f: FieldDef): Record<string, unknown> {
  const stringLike = ['string', 'email', 'phone', 'url', 'textarea', 'picklist', 'id', 'reference'].includes(f.type)
  const sortable = f.type !== 'textarea' || f.length <= 255
  return {
    aggregatable: f.type !== 'textarea' && f.type !== 'address',
    aiPredictionField: false,
    autoNumber: false,
    byteLength: stringLike ? f.length * 3 : 0,
    calculated: false,
    calculatedFormula: null,
    cascadeDelete: false,
    caseSensitive: false,
    compoundFieldName: f.compoundFieldName,
    controllerName: null,
    createable: f.createable,
    custom: f.custom,
    defaultValue: f.type === 'boolean' || f.type === 'picklist' ? f.defaultValue : null,
    defaultValueFormula: null,
    defaultedOnCreate: f.defaultedOnCreate,
    dependentPicklist: false,
    deprecatedAndHidden: false,
    digits: f.digits,
    displayLocationInDecimal: false,
    encrypted: false,
    externalId: f.externalId,
    extraTypeInfo: f.type === 'textarea' ? (f.length > 255 ? 'plaintextarea' : null) : f.derived === 'name' ? 'personname' : null,
    filterable: f.type !== 'address' && !(f.type === 'textarea' && f.length > 255),
    filteredLookupInfo: null,
    formulaTreatNullNumberAsZero: false,
    groupable: f.type !== 'address' && f.type !== 'textarea' && !['double', 'currency', 'percent', 'datetime'].includes(f.type),
    highScaleNumber: false,
    htmlFormatted: false,
    idLookup: f.idLookup,
    inlineHelpText: null,
    label: f.label,
    length: f.length,
    mask: null,
    maskType: null,
    name: f.name,
    nameField: f.nameField,
    namePointing: false,
    nillable: f.nillable,
    permissionable: f.custom || (f.nillable && f.createable),
    picklistValues: f.picklistValues,
    polymorphicForeignKey: f.name === 'OwnerId',
    precision: f.precision,
    queryByDistance: false,
    referenceTargetField: null,
    referenceTo: f.referenceTo,
    relationshipName: f.relationshipName,
    relationshipOrder: null,
    restrictedDelete: false,
    restrictedPicklist: f.restrictedPicklist,
    scale: f.scale,
    searchPrefilterable: false,
    soapType: SOAP_TYPE[f.type],
    sortable: sortable && f.type !== 'address',
    type: f.type,
    unique: f.unique,
    updateable: f.updateable,
    writeRequiresMasterRead: false,
  }
}
