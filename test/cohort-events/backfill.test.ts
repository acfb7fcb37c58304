/**
 * The export backfill end to end (issue #12, flow 6): existing Cohort users, existing
 * Contacts in the Salesforce stand-in, export turned on with the export engines running; every
 * user is resolved and written through the export's path. Mode `existing`: matched records get
 * the Cohort id and the mapped values, the user without a record is skipped and counted, nothing
 * is created; mode `all`: that user gets a new Contact with the required fields. Turning export
 * off and on again backfills again and writes nothing new. Both stores.
 */
import t, { type Test } from 'tap'
import { exportEngines } from '../../src/engines.ts'
import { waitFor } from '../helpers/index.ts'
import { connectMerchant, salesforceRecords } from '../helpers/merchant.ts'
import { startStack, type Stack } from '../helpers/stack.ts'

const writeCalls = async (stack: Stack) => {
  const stats = (await (await fetch(`${stack.salesforce.url}/__sandbox/stats`)).json()) as { apiCalls: { byEndpoint: Record<string, number> } }
  return Object.entries(stats.apiCalls.byEndpoint).filter(([k]) => /composite\/sobjects|^(PATCH|POST) \/sobjects/.test(k)).reduce((sum, [, n]) => sum + n, 0)
}

async function setup(t: Test, backend: 'sqlite' | 'postgres', mode: 'all' | 'existing') {
  const stack = await startStack(t, { backend, cohortEvents: false, env: { LEASE_TTL_MS: '1000', SETTINGS_POLL_MS: '200', EXPORT_LINGER_MS: '100' }, components: exportEngines() })
  const merchant = await connectMerchant(stack)
  const { merchantId } = merchant
  const cohort = (path: string, body: unknown) => fetch(`${stack.cohort.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer sandbox-cohort-token' }, body: JSON.stringify(body) }).then((r) => r.json() as Promise<any>)
  await cohort(`/internal/merchants/${merchantId}/user-properties`, { key: 'points', name: 'Points', type: 'number' })
  await cohort(`/internal/merchants/${merchantId}/user-properties`, { key: 'tier', name: 'Tier', type: 'text' })
  // Five users: four with a Contact of their email (one without any mapped value yet), one without.
  const users = [
    { email: `ada-${merchantId}@example.com`, properties: { points: 10, tier: 'Gold' } },
    { email: `bo-${merchantId}@example.com`, properties: { points: 20, tier: 'Silver' } },
    { email: `cy-${merchantId}@example.com`, properties: { points: 30 } },
    { email: `di-${merchantId}@example.com`, properties: {} },
    { email: `eve-${merchantId}@example.com`, properties: { points: 50, tier: 'Platinum' } },
  ]
  const { ids } = await cohort(`/__sandbox/merchants/${merchantId}/users`, { users, events: false })
  const contacts = salesforceRecords(stack, 'Contact')
  const contactIds = await contacts.create(users.slice(0, 4).map((u, i) => ({ LastName: `Person ${i}`, Email: u.email.toUpperCase() })), false)
  await merchant.saveImport({ enabled: true, object: 'Contact', emailField: 'Email', mode: 'existing', fields: [] })
  const exportBody = { enabled: true, cohortUserIdField: 'Cohort_User_Id__c', mode, mappings: [{ property: 'points', field: 'Cohort_Points__c' }, { property: 'tier', field: 'Loyalty_Tier__c' }] }
  const saveExport = async (body: Record<string, unknown> = {}) => {
    const res = await merchant.api('PUT', '/export', { ...exportBody, ...body })
    if (res.status !== 200) throw new Error(`PUT export → ${res.status} ${JSON.stringify(res.body)}`)
  }
  const backfill = async () => (await merchant.health()).exportBackfill
  const completedAfter = (previous: string | null) => waitFor(async () => { const b = await backfill(); return b.state === 'completed' && b.runId !== previous }, 30_000, 'the backfill completed')
  const byEmail = async () => new Map((await contacts.list()).map((r) => [String(r.Email).toLowerCase(), r]))
  return { stack, merchant, merchantId, ids: ids as string[], users, contactIds, saveExport, backfill, completedAfter, byEmail }
}

for (const backend of ['sqlite', 'postgres'] as const) {
  t.test(`${backend}, mode existing: matched records get the Cohort id and the values; nothing is created`, async (t) => {
    const { stack, merchantId, ids, users, contactIds, saveExport, backfill, completedAfter, byEmail } = await setup(t, backend, 'existing')
    const before = await writeCalls(stack)
    await saveExport()
    await completedAfter(null)
    const records = await byEmail()
    t.equal(records.size, 4, 'no Contact created')
    t.match(records.get(users[0]!.email), { Cohort_User_Id__c: ids[0], Cohort_Points__c: 10, Loyalty_Tier__c: 'Gold' })
    t.match(records.get(users[1]!.email), { Cohort_User_Id__c: ids[1], Cohort_Points__c: 20, Loyalty_Tier__c: 'Silver' })
    t.match(records.get(users[2]!.email), { Cohort_User_Id__c: ids[2], Cohort_Points__c: 30 })
    t.match(records.get(users[3]!.email), { Cohort_User_Id__c: ids[3] }, 'a user with no value yet is still linked and marked')
    const links = await stack.store.findLinksByUsers(merchantId, ids)
    t.same(links.map((l) => [l.userId, l.recordId]).sort(), ids.slice(0, 4).map((id, i) => [id, contactIds[i]]).sort(), 'linked')
    const status = await backfill()
    t.match(status, { state: 'completed', processed: 5, counts: { byAction: { updated: 4, skipped: 1 }, byReason: { 'no-salesforce-record': 1 } } })
    t.ok((await writeCalls(stack)) - before <= 1, 'one collections call for the page')

    // Off and on again: every user again, nothing new to write.
    const first = status.runId
    await saveExport({ enabled: false })
    const calls = await writeCalls(stack)
    await saveExport()
    await completedAfter(first)
    t.equal(await writeCalls(stack), calls, 'a second backfill writes nothing')
    t.match(await backfill(), { processed: 5, counts: { byAction: { unchanged: 4, skipped: 1 } } })
  })

  t.test(`${backend}, mode all: the user without a record gets one, with the required fields`, async (t) => {
    const { stack, merchantId, ids, users, saveExport, backfill, completedAfter, byEmail } = await setup(t, backend, 'all')
    await saveExport({ createDefaults: { LeadSource: 'Cohort' } })
    await completedAfter(null)
    const records = await byEmail()
    t.equal(records.size, 5)
    const created = records.get(users[4]!.email)
    t.match(created, { Cohort_User_Id__c: ids[4], Cohort_Points__c: 50, Loyalty_Tier__c: 'Platinum', LastName: `eve-${merchantId}`, LeadSource: 'Cohort' }, 'LastName from the email')
    t.match(records.get(users[0]!.email), { Cohort_User_Id__c: ids[0], Cohort_Points__c: 10 })
    t.match(await backfill(), { state: 'completed', processed: 5, counts: { byAction: { updated: 4, created: 1 } } })
    // A link for the created record too.
    t.same((await stack.store.findLinksByUsers(merchantId, [ids[4]!])).map((l) => l.recordId), [created?.Id])
  })
}
