/** Salesforce values → Cohort property values (contracts §2 type map). */
import t from 'tap'
import { convertValue, sameValue } from '../../src/import/convert.ts'

t.test('each type converts what it should and refuses the rest', async (t) => {
  t.same(convertValue('Gold', 'text'), { ok: true, value: 'Gold' })
  t.same(convertValue(12, 'text'), { ok: true, value: '12' })
  t.same(convertValue('a;b', 'text'), { ok: true, value: 'a;b' })
  t.same(convertValue(1200.5, 'number'), { ok: true, value: 1200.5 })
  t.same(convertValue('42', 'number'), { ok: true, value: 42 })
  t.match(convertValue('many', 'number'), { ok: false, reason: /not a finite number/ })
  t.match(convertValue('', 'number'), { ok: false })
  t.same(convertValue(true, 'boolean'), { ok: true, value: true })
  t.same(convertValue('false', 'boolean'), { ok: true, value: false })
  t.match(convertValue('yes', 'boolean'), { ok: false })
  t.same(convertValue('1990-04-01', 'date'), { ok: true, value: '1990-04-01' })
  t.same(convertValue('2024-05-29T16:26:40.000+0000', 'date'), { ok: true, value: '2024-05-29T16:26:40.000Z' })
  t.same(convertValue('2024-05-29T16:26:40Z', 'date'), { ok: true, value: '2024-05-29T16:26:40.000Z' })
  t.match(convertValue('yesterday', 'date'), { ok: false, reason: /ISO-8601/ })
  t.match(convertValue({ City: 'x' }, 'text'), { ok: false })
  t.same(convertValue(null, 'number'), { ok: true, value: null }, 'null clears')
})

t.test('sameValue compares numbers, dates as instants, and nulls', async (t) => {
  t.ok(sameValue(1200, 1200))
  t.ok(sameValue(1200, '1200'))
  t.ok(sameValue('2024-05-29T16:26:40.000Z', '2024-05-29T16:26:40.000+0000'))
  t.notOk(sameValue('Gold', 'gold'))
  t.ok(sameValue(null, undefined))
  t.notOk(sameValue(null, 0))
})
