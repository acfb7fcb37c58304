/**
 * The importer alone on the real broker, against the Cohort stand-in over HTTP: change
 * messages produced straight to the stack's salesforce.changes topic (no subscriber), so the
 * order, duplicates, lost answers and bad messages are chosen by the test.
 */
import t from 'tap'
import { changeKeyOf, type ChangeMessage } from '../../src/changes/index.ts'
import { createImporter } from '../../src/import/index.ts'
import { collect } from '../kafka/helpers.ts'
import { waitFor } from '../helpers/index.ts'
import { cohortUsers, connectMerchant } from '../helpers/merchant.ts'
import { startStack, type Stack } from '../helpers/stack.ts'

const FIELDS = [{ field: 'Title' }, { field: 'Cohort_Points__c', property: 'points' }]
let commit = 1_800_000_000_000
/** The org of the merchant set up last (changes of another org are skipped). */
let orgId = ''

function change(merchantId: string, recordId: string, over: Partial<ChangeMessage> = {}): ChangeMessage {
  commit += 1000
  return {
    v: 1, source: 'cdc', merchantId, orgId, object: 'Contact', recordId, changeType: 'UPDATE', channel: '/data/ContactChangeEvent', replayId: 1,
    commitTimestamp: commit, commitNumber: 1, sequenceNumber: 1, changeOrigin: '', commitUser: '005', transactionKey: 'tk', changedFields: [], fields: {}, receivedAt: Date.now(), ...over,
  }
}

async function setup(t: Parameters<typeof startStack>[0]) {
  const stack = await startStack(t, { components: [(s) => createImporter(s)] })
  const merchant = await connectMerchant(stack)
  await merchant.saveImport({ enabled: true, object: 'Contact', emailField: 'Email', mode: 'all', fields: FIELDS })
  orgId = (await stack.store.getConnection(merchant.merchantId))!.orgId
  const send = (messages: Array<ChangeMessage | string>) => stack.services.kafka.produce(stack.topics.salesforceChanges, messages.map((m) => typeof m === 'string'
    ? { key: changeKeyOf(merchant.merchantId, 'bad'), value: m }
    : { key: changeKeyOf(m.merchantId, m.recordId), value: JSON.stringify(m) }))
  return { stack, merchant, send, users: cohortUsers(stack, merchant.merchantId) }
}

const traces = (stack: Stack, merchantId: string, recordId: string) => stack.store.listTrace(merchantId, { recordId }, 100)

t.test('the same change twice, and an older one after a newer one, change nothing', async (t) => {
  const { stack, merchant, send, users } = await setup(t)
  const m = merchant.merchantId
  const create = change(m, '003R1', { changeType: 'CREATE', fields: { Email: 'r1@example.com', Title: 'A', Cohort_Points__c: 1 } })
  const newer = change(m, '003R1', { fields: { Title: 'C' } })
  const older = { ...change(m, '003R1', { fields: { Title: 'B' } }), commitTimestamp: newer.commitTimestamp - 500 }
  await send([create])
  await waitFor(async () => (await users.byEmail('r1@example.com'))?.properties.title === 'A', 20_000, 'created')
  await send([newer])
  await waitFor(async () => (await users.byEmail('r1@example.com'))?.properties.title === 'C', 20_000, 'newer applied')
  await send([older, newer, create])
  const marker = change(m, '003R2', { changeType: 'CREATE', fields: { Email: 'r2@example.com' } })
  await send([marker])
  await waitFor(async () => (await users.byEmail('r2@example.com')) !== undefined, 20_000, 'marker applied (so the replays were handled)')
  const user = await users.byEmail('r1@example.com')
  t.same(user!.properties, { title: 'C', points: 1 })
  t.same((await traces(stack, m, '003R1')).map((e) => e.outcome).sort(), ['created', 'updated'], 'nothing applied again')
})

t.test('a batch whose answer Cohort lost is retried without creating the user twice', async (t) => {
  const { stack, merchant, send, users } = await setup(t)
  await fetch(`${stack.cohort.url}/__sandbox/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'lose-answer', match: '/users/batch' }) })
  await send([change(merchant.merchantId, '003L1', { changeType: 'CREATE', fields: { Email: 'lost@example.com', Title: 'Once' } })])
  await waitFor(async () => (await stack.store.findLinkByRecord(merchant.merchantId, '003L1')) !== null, 20_000, 'linked')
  const all = (await users.list()).filter((u) => u.email === 'lost@example.com')
  t.equal(all.length, 1, 'one user')
  t.equal(all[0]!.properties.title, 'Once')
  t.equal((await stack.store.findLinkByRecord(merchant.merchantId, '003L1'))!.userId, all[0]!.id)
})

t.test('bad messages go to the DLQ with their origin, and the partition moves on', async (t) => {
  const { stack, merchant, send, users } = await setup(t)
  const dlq = collect(t, stack.services.kafka, stack.topics.dlq)
  await dlq.consumer.start()
  await send(['not json', JSON.stringify({ v: 1, merchantId: merchant.merchantId }), change(merchant.merchantId, 'bad', { changeType: 'CREATE', fields: { Email: 'after@example.com' } })])
  await waitFor(async () => (await users.byEmail('after@example.com')) !== undefined, 20_000, 'the message after the bad ones applied')
  await dlq.waitForCount(2)
  const letters = dlq.received.map((r) => JSON.parse(r.value!))
  t.match(letters[0], { topic: stack.topics.salesforceChanges, partition: Number, offset: String, key: `${merchant.merchantId}:bad`, value: 'not json', error: { code: 'import.invalid-message', message: 'not JSON' }, failedAt: String })
  t.match(letters[1].error.message, /^not a change message: /)
})

t.test('duplicate emails: the most recently modified record is linked; an email change keeps the link', async (t) => {
  const { stack, merchant, send, users } = await setup(t)
  const m = merchant.merchantId
  const older = change(m, '003D1', { changeType: 'CREATE', fields: { Email: 'dup@example.com', Title: 'old' } })
  const newer = change(m, '003D2', { changeType: 'CREATE', fields: { Email: 'DUP@example.com', Title: 'new' } })
  await send([newer, older])
  await waitFor(async () => (await stack.store.listErrors(m)).data.some((e) => e.code === 'duplicate-email'), 20_000, 'duplicate reported')
  t.equal((await users.list()).length, 1)
  t.equal((await users.byEmail('dup@example.com'))!.properties.title, 'new')
  t.equal((await stack.store.findLinksByEmails(m, ['dup@example.com']))[0]!.recordId, '003D2')
  t.match((await stack.store.listErrors(m)).data.find((e) => e.code === 'duplicate-email'), { recordId: '003D1' })

  // A later change of the other record makes it the most recent one: it takes the link.
  await send([change(m, '003D1', { fields: { Email: 'dup@example.com', Title: 'old, edited' } })])
  await waitFor(async () => (await stack.store.findLinksByEmails(m, ['dup@example.com']))[0]?.recordId === '003D1', 20_000, 'link moved')

  await send([change(m, '003D1', { fields: { Email: 'renamed@example.com', Title: 'renamed' } })])
  // Cohort acknowledges before the store commits: wait for both.
  await waitFor(async () => (await users.list()).some((u) => u.properties.title === 'renamed') && (await stack.store.findLinkByRecord(m, '003D1'))?.email === 'renamed@example.com', 20_000, 'applied through the link')
  const list = await users.list()
  t.equal(list.length, 1, 'no user for the new email')
  t.equal(list[0]!.email.toLowerCase(), 'dup@example.com', 'the Cohort email is not changed')
  t.equal((await stack.store.findLinkByRecord(m, '003D1'))!.email, 'renamed@example.com')
})

t.test('changes of another org than the connected one are skipped', async (t) => {
  const { stack, merchant, send, users } = await setup(t)
  await send([{ ...change(merchant.merchantId, '003O1', { changeType: 'CREATE', fields: { Email: 'other-org@example.com' } }), orgId: '00DOTHERORG' }, change(merchant.merchantId, '003O2', { changeType: 'CREATE', fields: { Email: 'this-org@example.com' } })])
  await waitFor(async () => (await users.byEmail('this-org@example.com')) !== undefined, 20_000, 'this org applied')
  await waitFor(async () => /bridge_import_skipped_total\{reason="other-org"[^}]*\} 1/.test(await (await fetch(`${stack.url}/metrics`)).text()), 20_000, 'other org counted')
  t.equal(await users.byEmail('other-org@example.com'), undefined)
})

t.test('a share of thousands of creates goes to Cohort in calls side by side; lost answers still make no duplicate', async (t) => {
  const { stack, merchant, send, users } = await setup(t)
  const m = merchant.merchantId
  await fetch(`${stack.cohort.url}/__sandbox/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'lose-answer', match: '/users/batch', count: 2 }) })
  const n = 1_600
  await send(Array.from({ length: n }, (_, i) => change(m, `003B${i}`, { changeType: 'CREATE', fields: { Email: `bulk${i}@example.com`, Cohort_Points__c: i } })))
  await waitFor(async () => (await stack.store.findLinksByRecords(m, [`003B${n - 1}`, '003B0'])).length === 2 && (await users.list()).length === n, 60_000, `${n} users linked`)
  const all = await users.list()
  t.equal(new Set(all.map((u) => u.email)).size, n, 'one user per email')
  const links = await stack.store.findLinksByRecords(m, Array.from({ length: n }, (_, i) => `003B${i}`))
  t.equal(links.length, n, 'every record linked')
  const byEmail = new Map(all.map((u) => [u.email, u]))
  t.ok(links.every((l) => byEmail.get(l.email!)?.id === l.userId && byEmail.get(l.email!)?.properties.points === Number(l.recordId.slice(4))), 'each to its own user, with its value')
})
