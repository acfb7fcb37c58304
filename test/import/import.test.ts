/**
 * Import end to end on the real broker, both stand-ins over HTTP, both store backends:
 * Salesforce's CometD → CDC subscriber → salesforce.changes → importer → Cohort, with the
 * first full load, both modes, deletes, merged events, updates without the email, echoes of
 * the bridge's own writes, and a Cohort user created later in mode `existing`.
 */
import t, { type Test } from 'tap'
import { syncEngines } from '../../src/engines.ts'
import { LOAD_KIND } from '../../src/import/index.ts'
import { waitFor } from '../helpers/index.ts'
import { cohortUsers, connectMerchant, salesforceRecords } from '../helpers/merchant.ts'
import { startStack, type Stack } from '../helpers/stack.ts'

const FIELDS = [{ field: 'Title' }, { field: 'Cohort_Points__c', property: 'points' }, { field: 'Birthdate' }, { field: 'Loyalty_Tier__c' }]
const env = { LEASE_TTL_MS: '3000', SETTINGS_POLL_MS: '500', CDC_FAILED_RETRY_MS: '2000' }

async function importStack(t: Parameters<typeof startStack>[0], backend: 'sqlite' | 'postgres' = 'sqlite', loadPageSize = 2000) {
  const stack = await startStack(t, { backend, env, components: syncEngines({ loadPageSize }) })
  const merchant = await connectMerchant(stack)
  return { stack, merchant, contacts: salesforceRecords(stack, 'Contact'), users: cohortUsers(stack, merchant.merchantId) }
}

let commitNumber = 99_000_000_000
/** Publish a raw change event on the Contact channel (merged, odd values…), newer than anything before. */
async function publish(stack: Stack, header: Record<string, unknown>, body: Record<string, unknown>) {
  const payload = { ChangeEventHeader: { entityName: 'Contact', changeOrigin: '', transactionKey: `tk-${commitNumber}`, sequenceNumber: 1, commitTimestamp: Date.now() + 1000, commitNumber: commitNumber++, commitUser: '005x', ...header }, ...body }
  const res = await fetch(`${stack.salesforce.url}/__sandbox/publish`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ channel: '/data/ContactChangeEvent', payload }) })
  if (res.status !== 201 && res.status !== 200) throw new Error(`publish → ${res.status} ${await res.text()}`)
}

async function streaming(merchant: { health(): Promise<any> }) {
  await waitFor(async () => (await merchant.health()).cdc === 'streaming', 20_000, 'cdc streaming')
}

async function user(stack: Stack, merchantId: string, email: string, check: (u: any) => boolean = () => true, what = email) {
  let found: any
  await waitFor(async () => {
    found = await cohortUsers(stack, merchantId).byEmail(email)
    return found !== undefined && check(found)
  }, 20_000, what)
  return found
}

/**
 * `/metrics` comes to match `pattern`. The importer counts a share after its store
 * transaction, which ends after Cohort has the values (and, on PostgreSQL, after the commit is
 * visible to other connections): what a test sees first can be a moment ahead of the counters.
 */
async function metric(t: Test, stack: Stack, pattern: RegExp, what: string) {
  let text = ''
  await waitFor(async () => pattern.test((text = await (await fetch(`${stack.url}/metrics`)).text())), 10_000, what).catch(() => undefined)
  t.match(text, pattern, what)
}

for (const backend of ['sqlite', 'postgres'] as const) {
  t.test(`${backend}: create, update, delete, undelete in mode all`, async (t) => {
    const { stack, merchant, contacts, users } = await importStack(t, backend)
    await merchant.saveImport({ enabled: true, object: 'Contact', emailField: 'Email', mode: 'all', fields: FIELDS })
    await streaming(merchant)
    await waitFor(async () => (await merchant.health()).load.state === 'completed', 20_000, 'empty load completed')

    const [id] = await contacts.create([{ LastName: 'Lovelace', Email: 'Ada@Example.com', Title: 'Countess', Cohort_Points__c: 10, Birthdate: '1815-12-10' }])
    const created = await user(stack, merchant.merchantId, 'ada@example.com', (u) => u.properties.title === 'Countess')
    t.same(created.properties, { title: 'Countess', points: 10, birthdate: '1815-12-10' })

    await contacts.update(id!, { Title: 'Analyst', Cohort_Points__c: 20 })
    await user(stack, merchant.merchantId, 'ada@example.com', (u) => u.properties.title === 'Analyst' && u.properties.points === 20, 'update applied')

    await contacts.update(id!, { Title: null })
    await user(stack, merchant.merchantId, 'ada@example.com', (u) => (u.properties.title ?? null) === null, 'cleared field cleared')

    await contacts.remove(id!)
    await waitFor(async () => (await stack.store.findLinkByRecord(merchant.merchantId, id!)) === null, 20_000, 'link removed on delete')
    t.equal((await users.list()).length, 1, 'the Cohort user is kept')

    await contacts.undelete(id!)
    await waitFor(async () => (await stack.store.findLinkByRecord(merchant.merchantId, id!)) !== null, 20_000, 'linked again on undelete')
    t.equal((await users.list()).length, 1, 'no second user')

    const health = await merchant.health()
    t.equal(health.cdc, 'streaming')
    t.ok(health.lastImportAt, 'lastImportAt is live')
    t.match(health.replayId, /^\d+$/)
    // The replay id is saved in the background (at most every 100 ms): the status shows the stored one once it settles.
    await waitFor(async () => (await merchant.health()).replayId === String(await stack.store.getReplayId(merchant.merchantId, '/data/ContactChangeEvent')), 10_000, 'the status shows the stored replay id')
  })
}

for (const backend of ['sqlite', 'postgres'] as const) {
  t.test(`${backend}: first full load: every record, and edits made while it runs are not lost`, async (t) => {
    const { stack, merchant, contacts } = await importStack(t, backend, 500)
    const seeded = Array.from({ length: 3000 }, (_, i) => ({ LastName: `L${i}`, Email: `load${i}@example.com`, Title: `t${i}`, Cohort_Points__c: i }))
    const ids = await contacts.create(seeded, false)
    // Slow pages, so the edits below land while the load is reading.
    await fetch(`${stack.salesforce.url}/__sandbox/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'latency', latencyMs: 300, count: 7, match: '/query' }) })
    await merchant.saveImport({ enabled: true, object: 'Contact', emailField: 'Email', mode: 'all', fields: FIELDS })

    // Edit records at both ends of the Id order while the load pages through them.
    let editedDuringLoad = 0
    const edits = new Map<number, string>()
    for (let round = 0; round < 10; round++) {
      const health = await merchant.health()
      if (health.load.state === 'running') editedDuringLoad++
      for (const i of [round, 2999 - round, 1500 + round]) {
        edits.set(i, `edited-${round}`)
        await contacts.update(ids[i]!, { Title: `edited-${round}` })
      }
    }
    await waitFor(async () => (await merchant.health()).load.state === 'completed', 60_000, 'load completed')
    const health = await merchant.health()
    t.match(health.load, { state: 'completed', processed: 3000, total: 3000 })
    await waitFor(async () => (await cohortUsers(stack, merchant.merchantId).list()).length === 3000, 60_000, '3000 users')
    const byEmail = new Map((await cohortUsers(stack, merchant.merchantId).list()).map((u) => [u.email, u]))
    await waitFor(async () => {
      const now = new Map((await cohortUsers(stack, merchant.merchantId).list()).map((u) => [u.email, u]))
      return [...edits].every(([i, title]) => now.get(`load${i}@example.com`)?.properties.title === title)
    }, 30_000, 'every edit made during the load')
    t.equal(byEmail.get('load2000@example.com')?.properties.points, 2000)
    t.ok(editedDuringLoad > 0, `edits made while the load was running (${editedDuringLoad} of 10 rounds)`)
  })

  t.test(`${backend}: mode existing: only users already in Cohort get properties; a user created later gets them too`, async (t) => {
    const { stack, merchant, contacts, users } = await importStack(t, backend)
    await users.create([{ email: 'known@example.com' }], false)
    await contacts.create([{ LastName: 'Known', Email: 'known@example.com', Title: 'Known' }, { LastName: 'Later', Email: 'later@example.com', Title: 'Later' }], false)
    await merchant.saveImport({ enabled: true, object: 'Contact', emailField: 'Email', mode: 'existing', fields: FIELDS })
    await user(stack, merchant.merchantId, 'known@example.com', (u) => u.properties.title === 'Known', 'existing user filled by the load')
    await waitFor(async () => (await merchant.health()).load.state === 'completed', 20_000, 'load completed')
    t.equal((await users.list()).length, 1, 'nobody created')

    await contacts.create([{ LastName: 'New', Email: 'new@example.com', Title: 'New' }])
    await waitFor(async () => (await stack.store.listTrace(merchant.merchantId, { email: 'new@example.com' })).some((e) => e.outcome === 'skipped'), 20_000, 'new record skipped')
    t.equal((await users.list()).length, 1, 'still nobody created')

    // The import-users group joins before the user appears.
    await waitFor(() => stack.services.kafka.health().consumers.some((c) => c.groupId.endsWith('.import-users') && c.state === 'running'), 20_000, 'import-users running')
    await users.create([{ email: 'later@example.com' }])
    const later = await user(stack, merchant.merchantId, 'later@example.com', (u) => u.properties.title === 'Later', 'later user filled')
    t.equal(later.properties.title, 'Later')
  })

  t.test(`${backend}: a merged event, an update without the email, invalid emails, and a value that does not convert`, async (t) => {
    const { stack, merchant, contacts } = await importStack(t, backend)
    await merchant.saveImport({ enabled: true, object: 'Contact', emailField: 'Email', mode: 'all', fields: FIELDS })
    await streaming(merchant)
    const [a, b] = await contacts.create([{ LastName: 'A', Email: 'a@example.com' }, { LastName: 'B', Email: 'b@example.com' }])
    await user(stack, merchant.merchantId, 'b@example.com')

    await publish(stack, { recordIds: [a, b], changeType: 'UPDATE', changedFields: ['Title', 'LastModifiedDate'] }, { Title: 'Merged', LastModifiedDate: new Date().toISOString() })
    await user(stack, merchant.merchantId, 'a@example.com', (u) => u.properties.title === 'Merged', 'merged applies to a')
    await user(stack, merchant.merchantId, 'b@example.com', (u) => u.properties.title === 'Merged', 'merged applies to b')

    // Created without an event: the bridge knows nothing of it until it is updated.
    const [quiet] = await contacts.create([{ LastName: 'Quiet', Email: 'quiet@example.com', Title: 'Before' }], false)
    await contacts.update(quiet!, { Cohort_Points__c: 5 })
    const q = await user(stack, merchant.merchantId, 'quiet@example.com', (u) => u.properties.points === 5, 'update without email resolved by reading the record')
    t.equal(q.properties.title, 'Before', 'the record read gives every mapped field')

    const [noMail] = await contacts.create([{ LastName: 'NoMail' }])
    await waitFor(async () => (await stack.store.listTrace(merchant.merchantId, { recordId: noMail! })).some((e) => e.outcome === 'skipped' && (e.details as any).reason === 'missing-email'), 20_000, 'missing email skipped')
    await metric(t, stack, /bridge_import_skipped_total\{reason="missing-email"[^}]*\} [1-9]/, 'and counted')

    // A value that does not convert to the property's type is a per-record error; the other fields still apply.
    const [odd] = await contacts.create([{ LastName: 'Odd', Email: 'odd@example.com', Title: 'Fine' }])
    await user(stack, merchant.merchantId, 'odd@example.com', (u) => u.properties.title === 'Fine')
    await publish(stack, { recordIds: [odd], changeType: 'UPDATE', changedFields: ['Title', 'Cohort_Points__c'] }, { Title: 'Still fine', Cohort_Points__c: 'lots' })
    await user(stack, merchant.merchantId, 'odd@example.com', (u) => u.properties.title === 'Still fine', 'other fields applied')
    // Cohort answers before the store commits the batch (with its errors): wait for the commit.
    await waitFor(async () => (await stack.store.listErrors(merchant.merchantId)).data.some((e) => e.recordId === odd), 20_000, 'the error recorded')
    const errors = await stack.store.listErrors(merchant.merchantId)
    t.match(errors.data.find((e) => e.recordId === odd), { direction: 'import', code: 'invalid-value', message: /Cohort_Points__c → points \(number\)/ })
  })

  t.test(`${backend}: echo: the bridge's own write of an exported value is not imported back; a human edit right after is`, async (t) => {
    const { stack, merchant, contacts, users } = await importStack(t, backend)
    await merchant.saveImport({ enabled: true, object: 'Contact', emailField: 'Email', mode: 'all', fields: FIELDS })
    const exp = await merchant.api('PUT', '/export', { enabled: true, cohortUserIdField: 'Cohort_User_Id__c', mode: 'existing', mappings: [{ property: 'points', field: 'Cohort_Points__c' }] })
    t.equal(exp.status, 200)
    await streaming(merchant)
    // The (empty) first load is over, so no snapshot read later races the events below.
    await waitFor(async () => (await merchant.health()).load.state === 'completed', 20_000, 'load completed')
    const [id] = await contacts.create([{ LastName: 'E', Email: 'echo@example.com', Cohort_Points__c: 1 }])
    const u = await user(stack, merchant.merchantId, 'echo@example.com', (x) => x.properties.points === 1)

    // As if the exporter had written points=500 for this user: recorded, then written with the bridge's client id.
    await stack.store.commitExportBatch({ merchantId: merchant.merchantId, exportVersions: [{ userId: u.id, property: 'points', version: 7, value: 500, recordId: id! }] })
    await users.update(u.id, { points: 777 })
    const conn = await stack.services.connections.get(merchant.merchantId)
    await conn.sobject('Contact').update({ Id: id!, Cohort_Points__c: 500 })
    await contacts.update(id!, { Title: 'Human edit' })
    const after = await user(stack, merchant.merchantId, 'echo@example.com', (x) => x.properties.title === 'Human edit', 'human edit imported')
    t.equal(after.properties.points, 777, 'the echo of the exported value did not overwrite Cohort')
    await metric(t, stack, /bridge_import_echoes_total\{[^}]*\} [1-9]/, 'the echo counted')

    // The bridge's client writing a value it did not export is a real change.
    await conn.sobject('Contact').update({ Id: id!, Cohort_Points__c: 600 })
    await user(stack, merchant.merchantId, 'echo@example.com', (x) => x.properties.points === 600, 'a non-echo write by the same client is imported')
  })

  t.test(`${backend}: token expiry and a dropped CometD session mid-stream lose nothing; a restart resumes from the checkpoint`, async (t) => {
    const { stack, merchant, contacts } = await importStack(t, backend)
    await merchant.saveImport({ enabled: true, object: 'Contact', emailField: 'Email', mode: 'all', fields: FIELDS })
    await streaming(merchant)
    const [id] = await contacts.create([{ LastName: 'S', Email: 'stream@example.com', Cohort_Points__c: 0 }])
    await user(stack, merchant.merchantId, 'stream@example.com')

    const fault = (body: unknown) => fetch(`${stack.salesforce.url}/__sandbox/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    await fault({ kind: 'expire-tokens' })
    await contacts.update(id!, { Cohort_Points__c: 1 })
    await user(stack, merchant.merchantId, 'stream@example.com', (u) => u.properties.points === 1, 'after token expiry')

    await fault({ kind: 'cometd-drop-sessions' })
    await contacts.update(id!, { Cohort_Points__c: 2 })
    await user(stack, merchant.merchantId, 'stream@example.com', (u) => u.properties.points === 2, 'after 403::Unknown client')

    await stack.app.close()
    for (let i = 3; i <= 6; i++) await contacts.update(id!, { Cohort_Points__c: i })
    await stack.restart()
    await user(stack, merchant.merchantId, 'stream@example.com', (u) => u.properties.points === 6, 'changes made while down arrive after the restart')
    const updates = (await stack.store.listTrace(merchant.merchantId, { recordId: id! }, 100)).filter((e) => e.outcome === 'updated')
    const pointsSeen = updates.map((e) => (e.details as any).properties.points)
    t.same([...pointsSeen].sort(), [...new Set(pointsSeen)].sort(), `no change applied twice (${pointsSeen.join(',')})`)
  })

  t.test(`${backend}: CDC not enabled for the object: failed with the action, then streaming once enabled`, async (t) => {
    const { stack, merchant } = await importStack(t, backend)
    await merchant.saveImport({ enabled: true, object: 'Member__c', emailField: 'Email__c', mode: 'all', fields: [{ field: 'Points__c' }] })
    await waitFor(async () => (await merchant.health()).cdc === 'failed', 20_000, 'cdc failed')
    const health = await merchant.health()
    t.match(health.cdcError, { code: 'cdc.not-enabled', action: /Change Data Capture.*Member__c/ })
    await fetch(`${stack.salesforce.url}/__sandbox/cdc`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ object: 'Member__c', enabled: true }) })
    await merchant.saveImport({ enabled: true, object: 'Member__c', emailField: 'Email__c', mode: 'all', fields: [{ field: 'Points__c' }, { field: 'Tier__c' }] })
    await streaming(merchant)
    t.equal((await merchant.health()).cdcError, null)
    const [m] = await salesforceRecords(stack, 'Member__c').create([{ Name: 'M', Email__c: 'member@example.com', Points__c: 3 }])
    t.ok(m)
    await user(stack, merchant.merchantId, 'member@example.com', (u) => u.properties.points === 3, 'custom object imported')
  })

  t.test(`${backend}: import off, a change in Salesforce, import on again: the change arrives and the records are loaded again`, async (t) => {
    const { stack, merchant, contacts } = await importStack(t, backend)
    const body = { enabled: true, object: 'Contact', emailField: 'Email', mode: 'all', fields: FIELDS }
    await merchant.saveImport(body)
    await streaming(merchant)
    const [id] = await contacts.create([{ LastName: 'Off', Email: 'off@example.com', Title: 'before' }])
    await user(stack, merchant.merchantId, 'off@example.com', (u) => u.properties.title === 'before')
    const firstLoad = (await stack.store.getLatestJobRun(merchant.merchantId, LOAD_KIND))!.id

    await merchant.saveImport({ ...body, enabled: false })
    await waitFor(async () => (await merchant.health()).cdc === 'stopped', 10_000, 'stopped')
    await contacts.update(id!, { Title: 'while off' })
    await merchant.saveImport(body)
    await user(stack, merchant.merchantId, 'off@example.com', (u) => u.properties.title === 'while off', 'the change made while off')
    await waitFor(async () => (await merchant.health()).load.state === 'completed', 20_000, 'load completed')
    t.not((await stack.store.getLatestJobRun(merchant.merchantId, LOAD_KIND))!.id, firstLoad, 'turning import on again loads again')
  })
}
