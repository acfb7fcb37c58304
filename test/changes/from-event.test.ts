/** CDC events → change messages: tolerant headers, fan-out, flattening, what an UPDATE carries, resync cases. */
import t from 'tap'
import { DeliveredEventSchema, fromEvent, fromRecord, orderOf, parseChangeMessage } from '../../src/changes/index.ts'

const ctx = { merchantId: 'm1', orgId: '00D1', object: 'Contact', channel: '/data/ContactChangeEvent', receivedAt: 1_700_000_000_000 }
const header = (over: Record<string, unknown> = {}) => ({
  entityName: 'Contact', recordIds: ['003A'], changeType: 'CREATE', changeOrigin: 'com/salesforce/api/rest/62.0;client=x', transactionKey: 'tk', sequenceNumber: 2,
  commitTimestamp: 1717000000000, commitNumber: 11824400713, commitUser: '005U', changedFields: [], ...over,
})

t.test('a CREATE becomes one message with flat fields', async (t) => {
  const out = fromEvent({ schema: 's', payload: { ChangeEventHeader: header(), Name: { FirstName: 'Ada', LastName: 'Byron' }, MailingAddress: { City: 'London' }, Email: 'ada@example.com' }, event: { replayId: 42 } }, ctx)
  t.equal(out.kind, 'changes')
  if (out.kind !== 'changes') return
  t.equal(out.replayId, 42)
  t.equal(out.messages.length, 1)
  t.match(out.messages[0], { v: 1, source: 'cdc', merchantId: 'm1', recordId: '003A', changeType: 'CREATE', replayId: 42, channel: '/data/ContactChangeEvent', commitTimestamp: 1717000000000, fields: { FirstName: 'Ada', LastName: 'Byron', MailingCity: 'London', Email: 'ada@example.com' } })
  t.ok(parseChangeMessage(JSON.stringify(out.messages[0])).ok, 'a produced message parses back')
})

t.test('a merged UPDATE fans out per record and keeps only the changed fields', async (t) => {
  const out = fromEvent({ payload: { ChangeEventHeader: header({ changeType: 'UPDATE', recordIds: ['003A', '003B', '003A'], changedFields: ['Title', 'Name.FirstName', 'LastModifiedDate'], somethingNew: true }), Title: 'CEO', Name: { FirstName: 'Ada' }, Enriched__c: 'x', LastModifiedDate: '2024-01-01T00:00:00Z' }, event: { replayId: 7 } }, ctx)
  if (out.kind !== 'changes') return t.fail(out.kind)
  t.same(out.messages.map((m) => m.recordId), ['003A', '003B'], 'one message per distinct record id')
  t.same(out.messages[1]!.fields, { Title: 'CEO', FirstName: 'Ada', LastModifiedDate: '2024-01-01T00:00:00Z' }, 'enriched fields not listed as changed are left out')
  t.same(out.messages[0]!.changedFields, ['Title', 'FirstName', 'LastModifiedDate'])
})

t.test('a cleared field stays as null; DELETE and gap events carry no values', async (t) => {
  const upd = fromEvent({ payload: { ChangeEventHeader: header({ changeType: 'UPDATE', changedFields: ['Phone'] }), Phone: null }, event: { replayId: 8 } }, ctx)
  t.same(upd.kind === 'changes' && upd.messages[0]!.fields, { Phone: null })
  const del = fromEvent({ payload: { ChangeEventHeader: header({ changeType: 'DELETE' }) }, event: { replayId: 9 } }, ctx)
  t.same(del.kind === 'changes' && del.messages[0]!.fields, {})
  const gap = fromEvent({ payload: { ChangeEventHeader: header({ changeType: 'GAP_UPDATE' }) }, event: { replayId: 10 } }, ctx)
  t.equal(gap.kind === 'changes' && gap.messages[0]!.changeType, 'GAP_UPDATE')
})

t.test('overflow and wildcard ids are never fanned out: they ask for a resync', async (t) => {
  t.match(fromEvent({ payload: { ChangeEventHeader: header({ changeType: 'GAP_OVERFLOW', recordIds: ['000000000000000AAA'] }) }, event: { replayId: 11 } }, ctx), { kind: 'resync', replayId: 11 })
  t.match(fromEvent({ payload: { ChangeEventHeader: header({ changeType: 'UPDATE', recordIds: ['003*'] }) }, event: { replayId: 12 } }, ctx), { kind: 'resync', replayId: 12 })
})

t.test('headers are read tolerantly; what cannot be read is invalid with its replay id', async (t) => {
  const sparse = fromEvent({ payload: { ChangeEventHeader: { recordIds: ['003A'], changeType: 'CREATE', extra: { a: 1 } } }, event: { replayId: 13 } }, ctx)
  t.match(sparse, { kind: 'changes', messages: [{ object: 'Contact', commitTimestamp: ctx.receivedAt, commitNumber: 0, sequenceNumber: 0, changeOrigin: '' }] })
  t.match(fromEvent({ payload: { ChangeEventHeader: header({ changeType: 'SOMETHING' }) }, event: { replayId: 14 } }, ctx), { kind: 'invalid', replayId: 14 })
  t.match(fromEvent({ payload: {}, event: { replayId: 15 } }, ctx), { kind: 'invalid', replayId: 15 })
  t.match(fromEvent('nonsense', ctx), { kind: 'invalid', replayId: null })
})

t.test('order: commit time, then commit number, then sequence; snapshots come first within a millisecond', async (t) => {
  const a = orderOf({ commitTimestamp: 1000, commitNumber: 11824400713, sequenceNumber: 2 })
  const b = orderOf({ commitTimestamp: 1000, commitNumber: 11824400714, sequenceNumber: 1 })
  t.ok(a.sequence < b.sequence)
  t.ok(Number.isSafeInteger(a.sequence))
  // Real commit numbers are about 10^13 and commit timestamps whole seconds: still ordered.
  const real1 = orderOf({ commitTimestamp: 1717000000000, commitNumber: 10583584855437, sequenceNumber: 1 })
  const real2 = orderOf({ commitTimestamp: 1717000000000, commitNumber: 10583584855438, sequenceNumber: 1 })
  t.ok(Number.isSafeInteger(real2.sequence) && real1.sequence < real2.sequence, 'two commits in one second keep their order')
  const within = orderOf({ commitTimestamp: 1717000000000, commitNumber: 10583584855437, sequenceNumber: 3 })
  t.ok(real1.sequence < within.sequence && within.sequence < real2.sequence, 'the sequence number orders within a commit')
  const snap = fromRecord({ attributes: {}, Id: '003A', SystemModstamp: '2024-05-29T16:26:40.000+0000', Email: 'a@b.c' }, { merchantId: 'm', orgId: 'o', object: 'Contact', source: 'load', receivedAt: 5, loadId: 'r1' })
  t.match(snap, { changeType: 'SNAPSHOT', recordId: '003A', commitTimestamp: Date.parse('2024-05-29T16:26:40.000Z'), fields: { Email: 'a@b.c' }, loadId: 'r1' })
  t.equal(orderOf(snap).sequence, 0)
})

t.test('parseChangeMessage refuses what is not a change message, with the reason', async (t) => {
  t.match(parseChangeMessage(null), { ok: false, reason: 'empty message' })
  t.match(parseChangeMessage('{'), { ok: false, reason: 'not JSON' })
  t.match(parseChangeMessage('{"v":1}'), { ok: false, reason: /^not a change message: / })
})

t.test('the hand-written check of a delivered event agrees with the schema on every header mutation', async (t) => {
  const good = { schema: 's', payload: { ChangeEventHeader: header({ changeType: 'UPDATE', changedFields: ['Email'] }), Email: 'a@example.com' }, event: { replayId: 5, EventUuid: 'u' } }
  const wrong: unknown[] = [undefined, null, '', 'x', 0, 1.5, true, [], ['a'], [1], {}, { a: 1 }]
  const variants: Array<[string, unknown]> = [['as sent', good], ['an array', [good]], ['null', null], ['without payload', { event: good.event }], ['without event', { payload: good.payload }]]
  for (const value of wrong) {
    variants.push([`payload = ${JSON.stringify(value)}`, { ...good, payload: value }], [`event = ${JSON.stringify(value)}`, { ...good, event: value }])
    variants.push([`replayId = ${JSON.stringify(value)}`, { ...good, event: { replayId: value } }])
    variants.push([`header = ${JSON.stringify(value)}`, { ...good, payload: { ...good.payload, ChangeEventHeader: value } }])
  }
  for (const key of ['entityName', 'recordIds', 'changeType', 'changeOrigin', 'transactionKey', 'sequenceNumber', 'commitTimestamp', 'commitNumber', 'commitUser', 'changedFields']) {
    const { [key]: _dropped, ...without } = good.payload.ChangeEventHeader as Record<string, unknown>
    variants.push([`header without ${key}`, { ...good, payload: { ...good.payload, ChangeEventHeader: without } }])
    for (const value of wrong) variants.push([`header.${key} = ${JSON.stringify(value)}`, { ...good, payload: { ...good.payload, ChangeEventHeader: { ...good.payload.ChangeEventHeader, [key]: value } } }])
  }
  let accepted = 0
  for (const [name, value] of variants) {
    const schema = DeliveredEventSchema.safeParse(value)
    const out = fromEvent(value, ctx)
    const refused = out.kind === 'invalid' && out.reason.startsWith('not a change event')
    t.equal(!refused, schema.success, name)
    // What the schema gives back (defaults filled in) reads the same as what was delivered.
    if (schema.success) {
      accepted++
      t.same(out, fromEvent(schema.data, ctx), `${name}: the same outcome`)
    }
  }
  t.ok(accepted > 10, 'good events are among the variants')
})
