/**
 * Pause and resume end to end: REQUEST_LIMIT_EXCEEDED pauses one merchant (its changes parked,
 * offsets moving on) while another merchant keeps flowing; the pause ends, the parked changes
 * go first; the status topic says both. The API budget spent pauses too. Two-way fields with
 * concurrent edits end equal on both sides and never loop.
 */
import t from 'tap'
import { waitFor } from '../helpers/index.ts'
import { connectMerchant, salesforceRecords } from '../helpers/merchant.ts'
import { collect } from '../kafka/helpers.ts'
import { apiStats, contactWhere, exportMerchant, exportStack, fault, MAPPINGS, saveExport, writeCalls } from './helpers.ts'

const backends = (process.env.EXPORT_BACKENDS?.split(',') ?? ['sqlite', 'postgres']) as Array<'sqlite' | 'postgres'>

for (const backend of backends) {
  t.test(`${backend}: request-limit-exceeded pauses one merchant, parks its changes, the other flows; on resume the parked go first`, async (t) => {
    const { stack, merchant, contacts, users, saveExport: saveA } = await exportStack(t, { backend, env: { SALESFORCE_LIMITS_POLL_MS: '6000' } })
    const status = collect(t, stack.services.kafka, stack.topics.status)
    await status.consumer.start()
    await saveA({ mode: 'existing' })
    const b = await exportMerchant(stack, { username: 'integration@other.example.com' })
    await b.saveExport({ mode: 'existing' })
    const contactsB = salesforceRecords(stack, 'Contact', 2)
    await contacts.create([{ LastName: 'A', Email: 'a@example.com' }], false)
    await contactsB.create([{ LastName: 'B', Email: 'b@example.com' }], false)
    const [ua] = await users.create([{ email: 'a@example.com' }], false)
    const [ub] = await b.users.create([{ email: 'b@example.com' }], false)

    await fault(stack, { kind: 'request-limit-exceeded', count: 1, match: '/^PATCH .*composite.sobjects/' })
    await users.update(ua!, { points: 1 })
    await waitFor(async () => (await merchant.health()).export.state === 'paused', 20_000, 'A paused')
    const paused = await merchant.health()
    t.match(paused.export, { state: 'paused', pauseReason: 'salesforce.limit-exceeded', pausedUntil: String, parked: 1 })
    // More changes of A while paused: parked, coalesced per user; B keeps flowing.
    await users.update(ua!, { points: 2 })
    await users.update(ua!, { points: 3, nickname: 'parked' })
    await b.users.update(ub!, { points: 7 })
    const bRecord = (await contactsB.list())[0]!
    await waitFor(async () => (await contactsB.list())[0]!.Cohort_Points__c === 7, 20_000, 'B flows while A is paused')
    t.equal(bRecord.Email, 'b@example.com')
    await waitFor(async () => ((await stack.store.peekParkedChanges(merchant.merchantId, 10))[0]?.properties.points?.value as { v?: unknown } | undefined)?.v === 3, 20_000, 'A\'s changes parked as one entry')
    t.equal(await stack.store.countParkedChanges(merchant.merchantId), 1)
    t.equal((await contacts.list())[0]!.Cohort_Points__c, null, 'nothing of A written while paused')

    // The pause ends: the parked entry goes out; the health and the status topic say so.
    const record = await contactWhere(stack, 'a@example.com', (r) => r.Cohort_Points__c === 3, 'parked change applied on resume', 30_000)
    t.equal(record.Title, 'parked')
    await waitFor(async () => (await merchant.health()).export.state === 'running', 20_000, 'A running again')
    // The parked entry is acknowledged once the flush's transaction committed.
    await waitFor(async () => (await merchant.health()).export.parked === 0, 20_000, 'nothing parked any more')
    await waitFor(() => status.received.filter((m) => JSON.parse(m.value!).kind === 'export').length >= 2, 20_000, 'status messages')
    const messages = status.received.map((m) => JSON.parse(m.value!)).filter((m) => m.kind === 'export' && m.merchantId === merchant.merchantId)
    t.match(messages[0], { merchantId: merchant.merchantId, kind: 'export', state: 'paused', reason: 'salesforce.limit-exceeded', at: String })
    t.match(messages[1], { kind: 'export', state: 'running' })
  })
}

t.test('sqlite: the API budget used up pauses the merchant', async (t) => {
  const { stack, merchant, contacts, users, saveExport: save } = await exportStack(t)
  // 1 % of the stand-in's 100,000 daily requests: 1,000 calls; the bridge is told it made them.
  await save({ mode: 'existing', apiBudgetPercent: 1 })
  await contacts.create([{ LastName: 'A', Email: 'a@example.com' }], false)
  const [u] = await users.create([{ email: 'a@example.com' }], false)
  await users.update(u!, { points: 1 })
  await contactWhere(stack, 'a@example.com', (r) => r.Cohort_Points__c === 1, 'first write')
  const orgId = (await stack.store.getConnection(merchant.merchantId))!.orgId
  await stack.store.addApiCalls([{ orgId, hour: new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000), calls: 1_000 }])
  await users.update(u!, { points: 2 })
  await waitFor(async () => (await merchant.health()).export.pauseReason === 'api-budget', 20_000, 'paused on the budget')
  const health = await merchant.health()
  t.ok(health.apiBudget.used >= health.apiBudget.limit, `used ${health.apiBudget.used} ≥ limit ${health.apiBudget.limit}`)
  t.equal(health.export.parked, 1)
  t.equal((await contacts.list())[0]!.Cohort_Points__c, 1)
})

t.test('sqlite: two-way mapping with concurrent edits ends equal on both sides and never loops', async (t) => {
  const { stack, merchant, contacts, users } = await exportStack(t)
  await merchant.saveImport({ enabled: true, object: 'Contact', emailField: 'Email', mode: 'existing', fields: [{ field: 'Cohort_Points__c', property: 'points' }, { field: 'Title', property: 'nickname' }] })
  await waitFor(async () => (await merchant.health()).cdc === 'streaming', 20_000, 'cdc streaming')
  await saveExport(merchant, { mode: 'existing', mappings: MAPPINGS.filter((m) => m.property === 'points' || m.property === 'nickname') })
  const emails = Array.from({ length: 5 }, (_, i) => `two${i}@example.com`)
  const ids = await contacts.create(emails.map((email, i) => ({ LastName: `T${i}`, Email: email })), false)
  const userIds = await users.create(emails.map((email) => ({ email })), false)
  // Each side edits the same fields at about the same time, several rounds.
  for (let round = 1; round <= 3; round++) {
    await Promise.all(userIds.map((id, i) => users.update(id, { points: round * 100 + i, nickname: `cohort-${round}` })))
    await Promise.all(ids.map((id, i) => contacts.update(id!, { Cohort_Points__c: round * 1000 + i, Title: `salesforce-${round}` })))
  }
  const equal = async () => {
    const [records, cohort] = await Promise.all([contacts.list(), users.list()])
    const byEmail = new Map(records.map((r) => [String(r.Email), r]))
    return cohort.every((u) => {
      const r = byEmail.get(u.email)
      return r !== undefined && r.Cohort_Points__c === (u.properties.points ?? null) && r.Title === (u.properties.nickname ?? null)
    })
  }
  await waitFor(equal, 40_000, 'both sides equal').catch(async (err: unknown) => {
    const [records, cohort] = await Promise.all([contacts.list(), users.list()])
    console.error('two-way: salesforce', JSON.stringify(records.map((r) => [r.Email, r.Cohort_Points__c, r.Title])))
    console.error('two-way: cohort', JSON.stringify(cohort.map((u) => [u.email, u.properties.points, u.properties.nickname, u.version])))
    for (const id of userIds) console.error('two-way: trace', id, JSON.stringify((await stack.store.listTrace(merchant.merchantId, { userId: id }, 100)).map((e) => [e.direction, e.outcome, e.details, e.at])))
    throw err
  })
  // Quiet: the stand-ins see no more calls (no ping-pong).
  await new Promise((resolve) => setTimeout(resolve, 2_000))
  const [sfBefore, writesBefore] = [(await apiStats(stack)).total, await writeCalls(stack)]
  await new Promise((resolve) => setTimeout(resolve, 10_000))
  const sfAfter = (await apiStats(stack)).total
  t.equal(await writeCalls(stack), writesBefore, 'no collections call over a quiet 10 s')
  t.equal(sfAfter, sfBefore, `Salesforce API calls flat over a quiet 10 s (${sfBefore})`)
  if (!(await equal())) {
    const [records, cohort] = await Promise.all([contacts.list(), users.list()])
    console.error('two-way: salesforce', JSON.stringify(records.map((r) => [r.Email, r.Cohort_Points__c, r.Title, r.SystemModstamp])))
    console.error('two-way: cohort', JSON.stringify(cohort.map((u) => [u.email, u.properties.points, u.properties.nickname, u.version])))
    for (const id of userIds.slice(0, 2)) console.error('two-way: trace', id, JSON.stringify((await stack.store.listTrace(merchant.merchantId, { userId: id }, 100)).map((e) => [e.direction, e.outcome, e.details, e.at])))
  }
  t.ok(await equal(), 'still equal')
  const traces = await stack.store.listTrace(merchant.merchantId, { userId: userIds[0]! }, 100)
  t.ok(traces.some((e) => e.direction === 'export'), 'the export side is traced')
  // Concurrent edits: the side that lost is on record (a Cohort write over a Salesforce value, or a Cohort change Salesforce's newer one kept out).
  const all = (await Promise.all(userIds.map((id) => stack.store.listTrace(merchant.merchantId, { userId: id }, 100)))).flat()
  t.ok(all.some((e) => e.direction === 'export' && (JSON.stringify(e.details).includes('"overwritten"') || (e.details as any)?.reason === 'salesforce-newer')), 'the overwritten or kept value is in the trace')
})

t.test('sqlite: a refresh token refused pauses the merchant (needs-reauth) until it connects again; then the parked changes go out', async (t) => {
  const { stack, merchant, contacts, users, saveExport: save } = await exportStack(t)
  await save({ mode: 'existing' })
  await contacts.create([{ LastName: 'R', Email: 'r@example.com' }], false)
  const [u] = await users.create([{ email: 'r@example.com' }], false)
  await users.update(u!, { points: 1 })
  await contactWhere(stack, 'r@example.com', (r) => r.Cohort_Points__c === 1, 'first write')
  await fault(stack, { kind: 'revoke-refresh-token' })
  await fault(stack, { kind: 'expire-tokens' })
  await users.update(u!, { points: 2 })
  await waitFor(async () => (await merchant.health()).export.pauseReason === 'salesforce.needs-reauth', 20_000, 'paused: needs-reauth')
  t.match((await merchant.health()).export, { state: 'paused', pausedUntil: null, parked: 1 })
  t.equal((await merchant.health()).connection?.state ?? (await merchant.api('GET', '')).body.connection.state, 'needs-reauth')

  // Connecting again clears the pause; the parked change goes out.
  await connectMerchant(stack, { merchantId: merchant.merchantId })
  await contactWhere(stack, 'r@example.com', (r) => r.Cohort_Points__c === 2, 'parked change written after reconnecting', 30_000)
  await waitFor(async () => (await merchant.health()).export.state === 'running', 20_000, 'running again')
})
