/** Cohort values → Salesforce field values by describe type; refusals carry Salesforce's codes. */
import t from 'tap'
import { sameFieldValue, toFieldValue } from '../../src/cohort-events/index.ts'
import type { FieldDetail } from '../../src/salesforce/index.ts'

const field = (type: string, extra: Partial<FieldDetail> = {}): FieldDetail => ({
  name: 'F__c', label: 'F', type, length: 0, nillable: true, readable: true, createable: true, updateable: true, defaultedOnCreate: false, emailCapable: false,
  precision: 0, scale: 0, digits: 0, picklistValues: [], restrictedPicklist: false, ...extra,
})

t.test('text within its length; over-long is STRING_TOO_LONG, never cut', async (t) => {
  t.same(toFieldValue('Ada', field('string', { length: 5 })), { ok: true, value: 'Ada' })
  t.same(toFieldValue(12, field('string', { length: 5 })), { ok: true, value: '12' })
  t.same(toFieldValue(true, field('textarea', { length: 5 })), { ok: true, value: 'true' })
  t.match(toFieldValue('Lovelace', field('string', { length: 5 })), { ok: false, code: 'STRING_TOO_LONG', message: /max length=5/ })
  t.match(toFieldValue({ a: 1 }, field('string')), { ok: false, code: 'INVALID_TYPE_FOR_FIELD' })
  t.same(toFieldValue(null, field('string')), { ok: true, value: null })
  t.same(toFieldValue('', field('string')), { ok: true, value: null })
})

t.test('emails and picklists', async (t) => {
  t.same(toFieldValue(' ada@example.com ', field('email', { length: 80 })), { ok: true, value: 'ada@example.com' })
  t.match(toFieldValue('not-an-email', field('email', { length: 80 })), { ok: false, code: 'INVALID_EMAIL_ADDRESS' })
  const tier = field('picklist', { length: 255, picklistValues: ['Bronze', 'Gold'], restrictedPicklist: true })
  t.same(toFieldValue('gold', tier), { ok: true, value: 'Gold' }, 'matched case-insensitively to the value')
  t.match(toFieldValue('Diamond', tier), { ok: false, code: 'INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST' })
  t.same(toFieldValue('Diamond', { ...tier, restrictedPicklist: false }), { ok: true, value: 'Diamond' }, 'an unrestricted picklist takes any value')
})

t.test('numbers within precision and scale', async (t) => {
  const money = field('currency', { precision: 6, scale: 2 })
  t.same(toFieldValue(12.345, money), { ok: true, value: 12.35 }, 'rounded to the scale')
  t.same(toFieldValue('7.5', money), { ok: true, value: 7.5 })
  t.match(toFieldValue(10_000, money), { ok: false, code: 'NUMBER_OUTSIDE_VALID_RANGE' }, '4 integer digits at most')
  t.match(toFieldValue('abc', money), { ok: false, code: 'INVALID_TYPE_FOR_FIELD' })
  t.same(toFieldValue(12.5, field('double', { precision: 18, scale: 0 })), { ok: true, value: 13 })
  const int = field('int', { digits: 3 })
  t.same(toFieldValue(999, int), { ok: true, value: 999 })
  t.match(toFieldValue(1000, int), { ok: false, code: 'NUMBER_OUTSIDE_VALID_RANGE' })
  t.match(toFieldValue(1.5, int), { ok: false, code: 'INVALID_TYPE_FOR_FIELD' })
})

t.test('booleans, dates, date-times', async (t) => {
  t.same(toFieldValue(true, field('boolean')), { ok: true, value: true })
  t.same(toFieldValue('false', field('boolean')), { ok: true, value: false })
  t.same(toFieldValue(null, field('boolean')), { ok: true, value: false }, 'a cleared checkbox is false')
  t.match(toFieldValue('yes', field('boolean')), { ok: false, code: 'INVALID_TYPE_FOR_FIELD' })
  t.same(toFieldValue('2024-05-01', field('date')), { ok: true, value: '2024-05-01' })
  t.same(toFieldValue('2024-05-01T23:30:00.000Z', field('date')), { ok: true, value: '2024-05-01' })
  t.same(toFieldValue('2024-05-01T10:00:00+0200', field('datetime')), { ok: true, value: '2024-05-01T08:00:00.000Z' })
  t.match(toFieldValue('soon', field('datetime')), { ok: false, code: 'INVALID_TYPE_FOR_FIELD' })
  t.match(toFieldValue('x', field('reference')), { ok: false, code: 'INVALID_FIELD_FOR_INSERT_UPDATE' })
})

t.test('sameFieldValue: numbers numerically, date-times as instants', async (t) => {
  t.ok(sameFieldValue(1, '1'))
  t.ok(sameFieldValue('2024-05-29T16:26:40.000+0000', '2024-05-29T16:26:40.000Z'))
  t.ok(sameFieldValue(null, undefined))
  t.notOk(sameFieldValue('a', 'A'))
  t.notOk(sameFieldValue(null, 0))
})
