/** SOQL building: quoting, IN lists within 200 values and the length budget, checked names, date-times. */
import t from 'tap'
import { apiName, inLists, soqlDateTime, soqlString } from '../../src/salesforce/index.ts'

t.test('string literals escape quotes, backslashes and control characters', async (t) => {
  t.equal(soqlString("o'brien@example.com"), "'o\\'brien@example.com'")
  t.equal(soqlString('a\\b'), "'a\\\\b'")
  t.equal(soqlString('x\ny"'), "'x\\ny\\\"'")
  t.equal(soqlString("' OR Id != '"), "'\\' OR Id != \\''", 'an injection attempt stays one literal')
})

t.test('IN lists: at most 200 values and within the character budget', async (t) => {
  const many = Array.from({ length: 450 }, (_, i) => `user${i}@example.com`)
  const lists = inLists(many)
  t.same(lists.map((l) => l.length), [200, 200, 50])
  t.same(lists.flat(), many)
  const long = Array.from({ length: 100 }, (_, i) => `${'x'.repeat(200)}${i}@example.com`)
  for (const list of inLists(long, 4000)) t.ok(list.map(soqlString).join(', ').length <= 4000 + 300)
})

t.test('only API names reach a query', async (t) => {
  t.equal(apiName('Loyalty_Tier__c'), 'Loyalty_Tier__c')
  t.throws(() => apiName('Email FROM User'), { code: 'request.invalid' })
  t.throws(() => apiName(''), { code: 'request.invalid' })
})

t.test('date-time literals: whole seconds, rounded down, UTC', async (t) => {
  t.equal(soqlDateTime(new Date('2024-05-29T16:26:40.999Z')), '2024-05-29T16:26:40Z')
  t.equal(soqlDateTime(new Date('2024-05-29T18:26:40.000+02:00')), '2024-05-29T16:26:40Z')
  t.equal(soqlDateTime(new Date(Date.UTC(2024, 0, 1))), '2024-01-01T00:00:00Z')
})
