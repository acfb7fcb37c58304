/** parseChangeMessage: its hand-written check gives exactly what the schema gives, for good and bad messages alike. */
import t from 'tap'
import { checkVerdicts } from '../helpers/verdicts.ts'
import { ChangeMessageSchema, fromEvent, fromRecord, parseChangeMessage } from '../../src/changes/index.ts'

const event = fromEvent({
  payload: {
    ChangeEventHeader: { entityName: 'Contact', recordIds: ['003A'], changeType: 'UPDATE', changeOrigin: 'com/salesforce/api/rest/62.0;client=x', transactionKey: 'tk', sequenceNumber: 2, commitTimestamp: 1717000000000, commitNumber: 11824400713, commitUser: '005U', changedFields: ['Email', 'Title'] },
    Email: 'ada@example.com', Title: null,
  },
  event: { replayId: 42 },
}, { merchantId: 'm1', orgId: '00D1', object: 'Contact', channel: '/data/ContactChangeEvent', receivedAt: 1_700_000_000_000 })
if (event.kind !== 'changes') throw new Error('fixture')
const cdc = event.messages[0]!
const load = fromRecord({ attributes: { type: 'Contact' }, Id: '003B', SystemModstamp: '2024-05-01T10:00:00.000Z', Email: 'b@example.com' }, { merchantId: 'm1', orgId: '00D1', object: 'Contact', source: 'load', receivedAt: 1_700_000_000_001, loadId: 'run-1' })

const wrong: unknown[] = [undefined, null, '', 'x', 0, -1, 1.5, Number.MAX_VALUE, true, [], ['a'], [1], {}, { a: 1 }, 'CREATE', 'cdc']
const variants: Array<[string, unknown]> = []
for (const base of [cdc, load] as Array<Record<string, unknown>>) {
  variants.push(['as produced', base], ['with an unknown key', { ...base, extra: 1 }])
  for (const key of [...Object.keys(ChangeMessageSchema.shape), 'loadId']) {
    const { [key]: _dropped, ...without } = base
    variants.push([`without ${key}`, without])
    for (const value of wrong) variants.push([`${key} = ${JSON.stringify(value)}`, { ...base, [key]: value }])
  }
}
variants.push(['an array', [cdc]], ['a string', 'x'], ['a number', 1])

t.test('every variant: the same verdict and the same message as the schema', async (t) => {
  const accepted = checkVerdicts(t, variants, {
    ours: (text) => {
      const parsed = parseChangeMessage(text)
      return parsed.ok ? { ok: true, value: parsed.message } : parsed
    },
    theirs: (json) => ChangeMessageSchema.safeParse(json),
    reason: /^not a change message: /,
    // Same keys in the same order, same values.
    sameKeyOrder: true,
  })
  t.ok(accepted >= 4, 'good messages are among the variants')
})
