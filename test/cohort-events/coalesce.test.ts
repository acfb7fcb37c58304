/** The coalescer: per user, per property the highest version; oldest first; entries settle. */
import t from 'tap'
import { createCoalescer, mergeChange, type UserChange } from '../../src/cohort-events/index.ts'

const at = new Date('2026-01-01T00:00:00Z')
const change = (userId: string, properties: Record<string, [unknown, number]>, extra: Partial<UserChange> = {}): UserChange => ({
  userId,
  email: `${userId}@example.com`,
  ensure: false,
  properties: Object.fromEntries(Object.entries(properties).map(([k, [value, version]]) => [k, { value, version, occurredAt: at }])),
  ...extra,
})

t.test('per property the highest version wins, whatever the arrival order', async (t) => {
  const c = createCoalescer()
  c.add(change('u1', { points: [10, 3], tier: ['gold', 3] }), 1)
  c.add(change('u1', { points: [5, 2] }), 2)
  c.add(change('u1', { points: [20, 4], nickname: [null, 4] }), 3)
  c.add(change('u1', { tier: ['silver', 3] }), 4)
  t.equal(c.size, 1)
  const [entry] = c.take(10)
  t.same(Object.fromEntries(Object.entries(entry!.change.properties).map(([k, v]) => [k, [v.value, v.version]])), { points: [20, 4], tier: ['gold', 3], nickname: [null, 4] })
  t.equal(entry!.firstAt, 1, 'the first change decides the age')
  t.equal(c.size, 0)
})

t.test('entries leave oldest first, at most `max`; a taken user starts a new entry', async (t) => {
  const c = createCoalescer()
  const first = c.add(change('a', { p: [1, 1] }), 1)
  c.add(change('b', { p: [1, 1] }), 2)
  c.add(change('c', { p: [1, 1] }), 3)
  c.add(change('a', { p: [2, 2] }), 4)
  t.equal(c.oldestAt, 1)
  t.same(c.take(2).map((e) => e.change.userId), ['a', 'b'])
  t.equal(c.oldestAt, 3)
  const again = c.add(change('a', { p: [3, 3] }), 5)
  t.not(again, first, 'a new entry for a user whose entry is in flight')
  t.same(c.take(10).map((e) => e.change.userId), ['c', 'a'])
  t.equal(c.oldestAt, null)
})

t.test('settling: done resolves, or rejects with the flush error; remove takes a user out', async (t) => {
  const c = createCoalescer()
  const a = c.add(change('a', { p: [1, 1] }))
  const b = c.add(change('b', { p: [1, 1] }))
  a.settle()
  await a.done
  b.settle(new Error('store down'))
  await t.rejects(b.done, /store down/)
  c.add(change('z', { p: [1, 1] }))
  t.equal(c.remove('z')?.change.userId, 'z')
  t.equal(c.remove('z'), undefined)
})

t.test('mergeChange: the newest email, ensure sticks', async (t) => {
  const merged = mergeChange(change('u', { p: [1, 5] }, { email: 'new@example.com', emailVersion: 5 }), change('u', {}, { email: 'old@example.com', emailVersion: 2, ensure: true }))
  t.equal(merged.email, 'new@example.com')
  t.equal(merged.ensure, true)
  t.equal(mergeChange(change('u', {}, { email: null }), change('u', {}, { email: 'x@example.com', emailVersion: 1 })).email, 'x@example.com')
})
