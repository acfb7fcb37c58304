/** parseUserEvent's hand-written check gives the schema's verdict and value on every variant. */
import t from 'tap'
import { checkVerdicts } from '../helpers/verdicts.ts'
import { CohortUserEvent, parseUserEvent } from '../../src/cohort-events/event.ts'

const base = {
  id: 'evt-1',
  type: 'user.properties.updated',
  merchantId: 'm1',
  userId: 'u1',
  email: 'ada@example.com',
  occurredAt: '2026-12-02T14:00:00.123Z',
  version: 7,
  properties: { points: 10, tier: 'gold', vip: true, note: null },
  source: 'cohort',
  extra: { kept: true },
}
const wrong: unknown[] = [null, '', 'x'.repeat(400), 0, -1, 1.5, 2 ** 53, true, [], {}, { a: 1 }, { a: [1] }, { a: { b: 1 } }, '2026-02-30T10:00:00Z', '2026-12-02T14:00:00+01:00', '2026-12-02 14:00:00Z', '2026-12-02T14:00Z', 'user.deleted', 'user.unknown']
const variants: Array<[string, unknown]> = [['the base', base], ['no properties', { ...base, properties: undefined }], ['user.deleted', { ...base, type: 'user.deleted', properties: {} }], ['empty email', { ...base, email: '' }]]
for (const key of Object.keys(base)) {
  const { [key as keyof typeof base]: _dropped, ...without } = base
  variants.push([`without ${key}`, without])
  for (const value of wrong) variants.push([`${key} = ${JSON.stringify(value)}`, { ...base, [key]: value }])
}
variants.push(['an array', [base]], ['a string', 'x'], ['a number', 1], ['null', null])

t.test('every variant: the same verdict and the same event as the schema', async (t) => {
  const accepted = checkVerdicts(t, variants, {
    ours: (text) => {
      const parsed = parseUserEvent(text)
      return parsed.ok ? { ok: true, value: parsed.event } : parsed
    },
    theirs: (json) => CohortUserEvent.safeParse(json),
    reason: /^breaks the user event schema: /,
  })
  t.ok(accepted >= 10, `good events are among the variants (${accepted})`)
})

t.test('what is not JSON or has no value says so', async (t) => {
  t.match(parseUserEvent('{'), { ok: false, reason: /^not JSON/ })
  t.match(parseUserEvent(null), { ok: false, reason: 'the message has no value' })
  t.match(parseUserEvent(Buffer.from(JSON.stringify(base))), { ok: true, event: { userId: 'u1' } })
})
