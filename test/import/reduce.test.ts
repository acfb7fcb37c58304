/** Reducing one record's changes: newest per field, stored states, deletes, loads, echoes flagged. */
import t from 'tap'
import type { ChangeMessage } from '../../src/changes/index.ts'
import { DELETED_FIELD, reduceRecord } from '../../src/import/reduce.ts'
import type { FieldState } from '../../src/store/index.ts'

const msg = (over: Partial<ChangeMessage>): ChangeMessage => ({
  v: 1, source: 'cdc', merchantId: 'm', orgId: 'o', object: 'Contact', recordId: '003A', changeType: 'UPDATE', channel: '/data/ContactChangeEvent', replayId: 1,
  commitTimestamp: 1000, commitNumber: 10, sequenceNumber: 1, changeOrigin: '', commitUser: '', transactionKey: '', changedFields: [], fields: {}, receivedAt: 0, ...over,
})
const wanted = new Set(['Email', 'Title', 'Points__c'])
const own = (o: string) => o.includes('client=bridge')
const state = (field: string, value: unknown, changedAt: number, sequence = 1000001): FieldState => ({ merchantId: 'm', recordId: '003A', field, value, changedAt: new Date(changedAt), sequence, direction: 'import' })
const noState = new Map<string, FieldState>()

t.test('the newest value per field wins, whatever the arrival order', async (t) => {
  const r = reduceRecord('003A', [msg({ commitTimestamp: 2000, fields: { Title: 'B' } }), msg({ commitTimestamp: 1000, fields: { Title: 'A', Points__c: 1 } }), msg({ commitTimestamp: 3000, fields: { Unmapped: 'x' } })], wanted, 'Email', noState, own)
  t.equal(r.fields.get('Title')!.value, 'B')
  t.equal(r.fields.get('Points__c')!.value, 1)
  t.notOk(r.fields.has('Unmapped'))
  t.ok(r.alive)
  t.equal(r.newest!.changedAt.getTime(), 3000)
})

t.test('a change already applied, or older than the applied one, leaves nothing to apply', async (t) => {
  const stored = new Map([['Title', state('Title', 'B', 2000, 10 * 100000 + 1)]])
  t.equal(reduceRecord('003A', [msg({ commitTimestamp: 2000, fields: { Title: 'B' } })], wanted, 'Email', stored, own).fields.size, 0, 'the same change twice')
  t.equal(reduceRecord('003A', [msg({ commitTimestamp: 1500, fields: { Title: 'A' } })], wanted, 'Email', stored, own).fields.size, 0, 'an older change')
  t.equal(reduceRecord('003A', [msg({ commitTimestamp: 2500, fields: { Title: 'C' } })], wanted, 'Email', stored, own).fields.get('Title')!.value, 'C')
})

t.test('a load snapshot at the same stamp applies again (a remapped property gets its value)', async (t) => {
  const stored = new Map([['Title', state('Title', 'B', 2000, 0)]])
  const snap = msg({ source: 'load', changeType: 'SNAPSHOT', commitTimestamp: 2000, commitNumber: 0, sequenceNumber: 0, fields: { Title: 'B' } })
  t.equal(reduceRecord('003A', [snap], wanted, 'Email', stored, own).fields.get('Title')!.value, 'B')
  t.equal(reduceRecord('003A', [{ ...snap, source: 'fetch' }], wanted, 'Email', stored, own).fields.size, 0, 'a fetch does not')
})

t.test('delete, undelete, and a stale snapshot after a delete', async (t) => {
  const del = reduceRecord('003A', [msg({ fields: { Title: 'A' } }), msg({ changeType: 'DELETE', commitTimestamp: 2000 })], wanted, 'Email', noState, own)
  t.ok(del.deleted)
  t.equal(del.fields.size, 0)
  t.match(del.deletion, { value: true })
  const stored = new Map([[DELETED_FIELD, state(DELETED_FIELD, true, 2000)]])
  const stale = reduceRecord('003A', [msg({ source: 'load', changeType: 'SNAPSHOT', commitTimestamp: 1500, commitNumber: 0, sequenceNumber: 0, fields: { Title: 'old', Email: 'a@b.c' } })], wanted, 'Email', stored, own)
  t.notOk(stale.alive, 'a snapshot read before the delete does not bring it back')
  const undel = reduceRecord('003A', [msg({ changeType: 'UNDELETE', commitTimestamp: 3000, fields: { Title: 'back', Email: 'a@b.c' } })], wanted, 'Email', stored, own)
  t.ok(undel.alive)
  t.match(undel.deletion, { value: false })
  t.equal(undel.fields.get('Title')!.value, 'back')
})

t.test('gap events ask for a read; own writes are flagged; the email is kept even when not newer', async (t) => {
  t.ok(reduceRecord('003A', [msg({ changeType: 'GAP_UPDATE' })], wanted, 'Email', noState, own).needsFetch)
  const r = reduceRecord('003A', [msg({ changeOrigin: 'com/salesforce/api/rest/62.0;client=bridge', fields: { Points__c: 5, Email: 'x@y.z' } })], wanted, 'Email', new Map([['Email', state('Email', 'x@y.z', 5000)]]), own)
  t.ok(r.fields.get('Points__c')!.own)
  t.same(r.email, { value: 'x@y.z' })
  t.notOk(r.fields.has('Email'))
})

t.test('a redelivered delete older than the undelete changes nothing; gap creates count as alive', async (t) => {
  const stored = new Map([[DELETED_FIELD, state(DELETED_FIELD, false, 3000)]])
  const r = reduceRecord('003A', [msg({ changeType: 'DELETE', commitTimestamp: 2000 })], wanted, 'Email', stored, own)
  t.notOk(r.deleted, 'not unlinked by a stale delete')
  const deletedState = new Map([[DELETED_FIELD, state(DELETED_FIELD, true, 2000)]])
  const gap = reduceRecord('003A', [msg({ changeType: 'GAP_UNDELETE', commitTimestamp: 3000 })], wanted, 'Email', deletedState, own)
  t.ok(gap.alive && gap.needsFetch)
  t.match(gap.deletion, { value: false })
})

t.test('a load snapshot reapplies over a change event of the same second (a remapped property), not over a newer one', async (t) => {
  const stored = new Map([['Title', state('Title', 'B', 2000, 1058358485543701)]])
  const snap = (at: number) => msg({ source: 'load', changeType: 'SNAPSHOT', commitTimestamp: at, commitNumber: 0, sequenceNumber: 0, fields: { Title: 'B' } })
  t.equal(reduceRecord('003A', [snap(2000)], wanted, 'Email', stored, own).fields.get('Title')!.value, 'B')
  t.equal(reduceRecord('003A', [snap(1000)], wanted, 'Email', stored, own).fields.size, 0)
})
