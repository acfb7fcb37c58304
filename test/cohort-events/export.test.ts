/**
 * Export end to end on the real broker, both stand-ins over HTTP, both store backends:
 * Cohort user events → cohort.user-events → exporter → Salesforce collections, in both
 * modes, with the record resolution order, coalescing, replay safety and status.
 */
import t from 'tap'
import { waitFor } from '../helpers/index.ts'
import { startTestClient } from '../kafka/helpers.ts'
import { contactWhere, exportStack, writeCalls } from './helpers.ts'

for (const backend of (process.env.EXPORT_BACKENDS?.split(',') ?? ['sqlite', 'postgres']) as Array<'sqlite' | 'postgres'>) {
  t.test(`${backend}: mode existing: matched records get the values, the Cohort id and a link; others are skipped`, async (t) => {
    const { stack, merchant, contacts, users, saveExport } = await exportStack(t, { backend })
    await saveExport({ mode: 'existing' })
    const [adaRecord] = await contacts.create([{ LastName: 'Lovelace', Email: 'Ada@Example.com' }], false)
    const [ada, bob] = await users.create([{ email: 'ada@example.com', properties: { points: 12.5, tier: 'gold', nickname: 'Countess', since: '2024-05-01', opt_in: true } }, { email: 'bob@example.com', properties: { points: 1 } }])
    // Cohort_Points__c is a double with scale 0: the value is rounded to the field's scale.
    const record = await contactWhere(stack, 'ada@example.com', (r) => r.Cohort_Points__c === 13, 'ada exported')
    t.match(record, { Id: adaRecord, Cohort_User_Id__c: ada, Loyalty_Tier__c: 'Gold', Title: 'Countess', Cohort_Member_Since__c: '2024-05-01', Cohort_Opt_In__c: true })
    await waitFor(async () => (await stack.store.findLinkByUser(merchant.merchantId, ada!)) !== null, 10_000, 'ada linked')
    t.match(await stack.store.findLinkByUser(merchant.merchantId, ada!), { recordId: adaRecord })
    await waitFor(async () => (await stack.store.listTrace(merchant.merchantId, { userId: bob! })).some((e) => e.outcome === 'skipped'), 20_000, 'bob skipped')
    t.equal((await contacts.list()).length, 1, 'nothing created in mode existing')

    await users.update(ada!, { points: 20 })
    await contactWhere(stack, 'ada@example.com', (r) => r.Cohort_Points__c === 20, 'update exported')
    // The API budget is counted in memory and flushed to the store every 2 s.
    await waitFor(async () => (await merchant.health()).apiBudget.used > 0, 10_000, 'api budget counted')
    const health = await merchant.health()
    t.ok(health.lastExportAt, 'lastExportAt is live')
    t.match(health.export, { state: 'running', pauseReason: null, parked: 0 })
    t.ok(health.apiBudget.used > 0, `apiBudget.used counts the bridge's calls (${health.apiBudget.used})`)
    t.equal(health.apiBudget.limit, Math.floor(health.apiBudget.orgMax * 0.5))
    const metrics = await (await fetch(`${stack.url}/metrics`)).text()
    t.match(metrics, /bridge_export_records_total\{outcome="updated"[^}]*\} [1-9]/)
    t.match(metrics, /bridge_export_collection_calls_total(\{[^}]*\})? [1-9]/)
  })
}

// The two call counts below rest on the linger: a lane flushes at most once per
// EXPORT_LINGER_MS while fewer than 200 users are pending, so the calls scale with how long
// the burst takes to arrive. The other tests' 200 ms (for speed) made the bounds a bet on a
// 2-core machine under load sending 300–900 updates in about 2–4 s (seen: 20 calls for the
// burst, 26 for the spill); the default 1 s makes them a property of the exporter.
const COALESCING_ENV = { EXPORT_LINGER_MS: '1000' }

t.test('sqlite: a burst of updates becomes few collections calls; replaying the whole topic writes nothing', async (t) => {
  const { stack, contacts, users, saveExport } = await exportStack(t, { env: COALESCING_ENV })
  await saveExport({ mode: 'existing' })
  const emails = Array.from({ length: 60 }, (_, i) => `burst${i}@example.com`)
  await contacts.create(emails.map((email, i) => ({ LastName: `B${i}`, Email: email })), false)
  const ids = await users.create(emails.map((email) => ({ email })), false)
  const before = await writeCalls(stack)
  // 5 rounds of updates of every user: 300 events.
  const sent = Date.now()
  for (let round = 1; round <= 5; round++) await Promise.all(ids.map((id) => users.update(id, { points: round * 10 })))
  const burstMs = Date.now() - sent
  await waitFor(async () => (await contacts.list()).filter((r) => r.Cohort_Points__c === 50).length === 60, 30_000, 'every last value in Salesforce')
  const calls = (await writeCalls(stack)) - before
  t.ok(calls <= 12, `300 events sent in ${burstMs} ms → ${calls} collections calls`)

  // A group that never committed reads the topic from the beginning: nothing new to write.
  const settled = await writeCalls(stack)
  await stack.restart({ KAFKA_GROUP_PREFIX: `${stack.groupPrefix}-replay` })
  const replayGroup = `${stack.groupPrefix}-replay.export`
  await waitFor(async () => {
    const lag = await stack.services.kafka.groupLag(replayGroup, stack.topics.cohortEvents)
    return lag.length > 0 && lag.every((p) => p.lag === 0)
  }, 30_000, 'the replay group read the whole topic')
  t.equal(await writeCalls(stack), settled, 'zero additional Salesforce writes')

  // The operator's reset: the service stopped, the export group moved back to the start.
  await stack.app.close()
  const admin = await startTestClient(t)
  const group = `${stack.groupPrefix}.export`
  const earliest = (await admin.kafka.endOffsets(stack.topics.cohortEvents)).map((p) => ({ partition: p.partition, offset: p.low }))
  await admin.kafka.setGroupOffsets(group, stack.topics.cohortEvents, earliest)
  t.ok((await admin.kafka.groupLag(group, stack.topics.cohortEvents)).some((p) => p.lag > 0), 'the group has the whole topic to read again')
  await stack.restart()
  await waitFor(async () => (await stack.services.kafka.groupLag(group, stack.topics.cohortEvents)).every((p) => p.lag === 0), 30_000, 'the reset group read the whole topic')
  t.equal(await writeCalls(stack), settled, 'zero additional Salesforce writes after the reset')
})

t.test('sqlite: writes lagging far behind spill to the parked changes; every last value lands, nothing stays parked', async (t) => {
  const { stack, merchant, contacts, users, saveExport } = await exportStack(t, { env: COALESCING_ENV, engines: { exporter: { sweepMs: 1_000, retry: { minDelayMs: 20, maxDelayMs: 200 }, spillAt: 20 } } })
  await saveExport({ mode: 'existing' })
  const emails = Array.from({ length: 150 }, (_, i) => `spill${i}@example.com`)
  await contacts.create(emails.map((email, i) => ({ LastName: `S${i}`, Email: email })), false)
  const ids = await users.create(emails.map((email) => ({ email })), false)
  const before = await writeCalls(stack)
  // 6 rounds over every user, interleaved: 900 events, far more users pending than 20.
  const sent = Date.now()
  for (let round = 1; round <= 6; round++) await Promise.all(ids.map((id) => users.update(id, { points: round * 10, tier: `t${round}` })))
  const burstMs = Date.now() - sent
  await waitFor(async () => (await contacts.list()).filter((r) => r.Cohort_Points__c === 60 && r.Loyalty_Tier__c === 't6').length === 150, 30_000, 'every last value in Salesforce')
  const metrics = await (await fetch(`${stack.url}/metrics`)).text()
  const spilled = Number(/bridge_export_spilled_total(?:\{[^}]*\})? (\d+)/.exec(metrics)?.[1] ?? 0)
  t.ok(spilled > 0, `the lane spilled (${spilled} user changes)`)
  await waitFor(async () => (await merchant.health()).export.parked === 0, 10_000, 'nothing left parked')
  t.match((await merchant.health()).export, { state: 'running', parked: 0 })
  const calls = (await writeCalls(stack)) - before
  t.ok(calls <= 6 * 4, `900 events over 150 users sent in ${burstMs} ms → ${calls} collections calls`)
  t.equal(new Set((await contacts.list()).map((r) => r.Email)).size, 150, 'no record created twice')
})

t.test('sqlite: a drain of many pages, two in flight, lands every last value; changes arriving mid-drain win; unlinked users are looked up after the pages before them', async (t) => {
  const { stack, merchant, contacts, users, saveExport } = await exportStack(t, { env: COALESCING_ENV, engines: { exporter: { sweepMs: 1_000, retry: { minDelayMs: 20, maxDelayMs: 200 }, spillAt: 20, drainDepth: 2 } } })
  await saveExport({ mode: 'existing' })
  // 700 users: four pages of 200 and a short one. The first 300 get linked by a first write;
  // the rest are still to be found by email when the drain reaches them.
  const emails = Array.from({ length: 700 }, (_, i) => `pages${i}@example.com`)
  await contacts.create(emails.map((email, i) => ({ LastName: `P${i}`, Email: email })), false)
  const ids = await users.create(emails.map((email) => ({ email })), false)
  await Promise.all(ids.slice(0, 300).map((id) => users.update(id, { points: 1 })))
  await waitFor(async () => (await contacts.list()).filter((r) => r.Cohort_Points__c === 1).length === 300, 30_000, 'the first 300 linked')
  const before = await writeCalls(stack)
  for (let round = 2; round <= 4; round++) await Promise.all(ids.map((id) => users.update(id, { points: round * 10, tier: `t${round}` })))
  // While the drain runs: one more round for every other user.
  await Promise.all(ids.filter((_, i) => i % 2 === 0).map((id) => users.update(id, { points: 99, tier: 'late' })))
  const expected = (i: number) => (i % 2 === 0 ? { points: 99, tier: 'late' } : { points: 40, tier: 't4' })
  await waitFor(async () => {
    const byEmail = new Map((await contacts.list()).map((r) => [r.Email, r]))
    return emails.every((email, i) => byEmail.get(email)?.Cohort_Points__c === expected(i).points && byEmail.get(email)?.Loyalty_Tier__c === expected(i).tier)
  }, 60_000, 'every last value in Salesforce')
  await waitFor(async () => (await merchant.health()).export.parked === 0, 10_000, 'nothing left parked')
  const records = await contacts.list()
  t.equal(records.length, 700, 'no record created')
  t.equal(new Set(records.map((r) => r.Cohort_User_Id__c)).size, 700, 'each record names its own user')
  const calls = (await writeCalls(stack)) - before
  // 2,450 events over 700 users: about one write per user and round at worst.
  t.ok(calls <= 4 * Math.ceil(700 / 200) + 8, `2,450 events over 700 users → ${calls} collections calls`)
  for (const [i, id] of ids.entries()) {
    const link = await stack.store.findLinkByUser(merchant.merchantId, id)
    if (link?.recordId !== records.find((r) => r.Email === emails[i])?.Id) {
      t.fail(`user ${i} is linked to its own record`)
      break
    }
  }
})
