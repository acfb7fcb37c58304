/**
 * The first full load through Bulk API 2.0, end to end on the real broker with both stand-ins
 * over HTTP: a SALESFORCE_BULK_THRESHOLD below the object's size sends the load through one
 * Bulk query job (streamed CSV, typed like REST), the importer fills Cohort exactly as a REST
 * load would, edits made while the job runs are not lost, and the run counts its API calls.
 * A Bulk load stopped half-way (the service restarted) resumes as a new job after the last Id
 * produced: every record arrives once, none is read twice, no job is left behind.
 */
import t from 'tap'
import { syncEngines } from '../../src/engines.ts'
import { LOAD_KIND } from '../../src/import/index.ts'
import { waitFor } from '../helpers/index.ts'
import { cohortUsers, connectMerchant, salesforceRecords } from '../helpers/merchant.ts'
import { startStack } from '../helpers/stack.ts'

const FIELDS = [{ field: 'Title' }, { field: 'Cohort_Points__c', property: 'points' }, { field: 'Birthdate' }, { field: 'HasOptedOutOfEmail', property: 'opted_out' }]
const env = { LEASE_TTL_MS: '3000', SETTINGS_POLL_MS: '500', SALESFORCE_BULK_THRESHOLD: '1000' }

t.test('a load above the threshold reads through one Bulk job; Cohort ends equal to Salesforce', async (t) => {
  const stack = await startStack(t, { env, components: syncEngines({ loadPageSize: 400 }) })
  const merchant = await connectMerchant(stack)
  const contacts = salesforceRecords(stack, 'Contact')
  const users = cohortUsers(stack, merchant.merchantId)
  const seeded = Array.from({ length: 1500 }, (_, i) => ({
    LastName: `L${i}`, Email: `bulk${i}@example.com`, Title: i % 7 === 0 ? null : `t${i}, "quoted"\nsecond line`,
    Cohort_Points__c: i % 5 === 0 ? null : i, Birthdate: i % 3 === 0 ? null : '1990-02-0' + ((i % 9) + 1), HasOptedOutOfEmail: i % 2 === 0,
  }))
  const ids = await contacts.create(seeded, false)
  // Slow status reads, so the edits below land while the job runs.
  await fetch(`${stack.salesforce.url}/__sandbox/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'latency', latencyMs: 300, count: 4, match: '/jobs/query' }) })
  await merchant.saveImport({ enabled: true, object: 'Contact', emailField: 'Email', mode: 'all', fields: FIELDS })

  const edits = new Map<number, string>()
  for (let round = 0; round < 5; round++) {
    for (const i of [round, 1499 - round]) {
      edits.set(i, `edited-${round}`)
      seeded[i]!.Title = `edited-${round}`
      await contacts.update(ids[i]!, { Title: `edited-${round}` })
    }
  }
  await waitFor(async () => (await merchant.health()).load.state === 'completed', 60_000, 'load completed')
  t.match((await merchant.health()).load, { state: 'completed', processed: 1500, total: 1500 })

  const stats = (await (await fetch(`${stack.salesforce.url}/__sandbox/stats`)).json()) as { apiCalls: { byEndpoint: Record<string, number> } }
  t.equal(stats.apiCalls.byEndpoint['POST /jobs/query'], 1, 'one Bulk job')
  t.ok(stats.apiCalls.byEndpoint['GET /jobs/query/{id}/results']! >= 1, 'results read by locator')
  const run = await stack.store.getLatestJobRun(merchant.merchantId, LOAD_KIND)
  t.ok(run!.apiCalls >= 5, `the run counts its calls (${run!.apiCalls}): count, describe, create, polls, page, delete`)

  await waitFor(async () => (await users.list()).length === 1500, 60_000, '1500 users')
  const want = (i: number) => {
    const s = seeded[i]!
    const p: Record<string, unknown> = { opted_out: s.HasOptedOutOfEmail }
    if (s.Title !== null) p.title = s.Title
    if (s.Cohort_Points__c !== null) p.points = s.Cohort_Points__c
    if (s.Birthdate !== null) p.birthdate = s.Birthdate
    return p
  }
  await waitFor(async () => {
    const byEmail = new Map((await users.list()).map((u) => [u.email, u]))
    return [...edits.keys()].every((i) => byEmail.get(`bulk${i}@example.com`)?.properties.title === edits.get(i))
  }, 30_000, 'every edit made during the load')
  const byEmail = new Map((await users.list()).map((u) => [u.email, u]))
  const wrong = seeded.map((_, i) => i).filter((i) => JSON.stringify(sorted(byEmail.get(`bulk${i}@example.com`)?.properties ?? {})) !== JSON.stringify(sorted(want(i))))
  t.same(wrong.slice(0, 5).map((i) => ({ i, got: byEmail.get(`bulk${i}@example.com`)?.properties, want: want(i) })), [], 'every user has the record\'s values, typed')
})

function sorted(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined).sort(([a], [b]) => a.localeCompare(b)))
}

t.test('a Bulk load stopped half-way resumes as a new job after the last Id produced', async (t) => {
  const stack = await startStack(t, { env, components: syncEngines({ loadPageSize: 100, loadBulk: { maxRecords: 200, pollMinMs: 50, pollMaxMs: 100 } }) })
  const merchant = await connectMerchant(stack)
  const contacts = salesforceRecords(stack, 'Contact')
  const users = cohortUsers(stack, merchant.merchantId)
  const ids = await contacts.create(Array.from({ length: 4000 }, (_, i) => ({ LastName: `L${i}`, Email: `resume${i}@example.com`, Cohort_Points__c: i })), false)
  const fault = (body: unknown) => fetch(`${stack.salesforce.url}/__sandbox/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  // 20 pages of 200 rows, each answered after 400 ms: the load takes about 8 s.
  await fault({ kind: 'latency', latencyMs: 400, count: 40, match: '/results' })
  await merchant.saveImport({ enabled: true, object: 'Contact', emailField: 'Email', mode: 'all', fields: [{ field: 'Cohort_Points__c', property: 'points' }] })
  await waitFor(async () => (await merchant.health()).cdc === 'streaming', 20_000, 'cdc streaming')
  // A change event, so the stream has a checkpoint of its own (a load resumes only then).
  await contacts.update(ids[0]!, { Cohort_Points__c: -1 })
  await waitFor(async () => (await stack.store.getReplayId(merchant.merchantId, '/data/ContactChangeEvent')) !== null, 20_000, 'replay id stored')
  await waitFor(async () => (await merchant.health()).load.processed >= 1000, 30_000, '1000 records loaded')
  await stack.restart()
  const stopped = (await stack.store.getLatestJobRun(merchant.merchantId, LOAD_KIND))!
  const lastId = (stopped.checkpoint as { lastId: string }).lastId
  t.ok(lastId > ids[0]! && lastId < ids[3999]!, `stopped half-way (after ${lastId})`)

  await waitFor(async () => (await merchant.health()).load.state === 'completed', 60_000, 'load completed after the restart')
  t.match((await merchant.health()).load, { state: 'completed', processed: 4000, total: 4000 })
  const resumed = stack.logs.lines().find((l) => l.msg === 'full load resumed')
  t.equal(resumed?.resumedAfter, lastId, 'resumed after the checkpoint')
  const stats = (await (await fetch(`${stack.salesforce.url}/__sandbox/stats`)).json()) as { apiCalls: { byEndpoint: Record<string, number> } }
  t.equal(stats.apiCalls.byEndpoint['POST /jobs/query'], 2, 'a second job for the rest')
  t.ok(stats.apiCalls.byEndpoint['GET /jobs/query/{id}/results']! <= 22, `the second job read only the rest (${stats.apiCalls.byEndpoint['GET /jobs/query/{id}/results']} pages of 200 over both jobs)`)

  await waitFor(async () => (await users.list()).length === 4000, 60_000, '4000 users')
  const list = await users.list()
  t.equal(new Set(list.map((u) => u.email)).size, 4000, 'no user twice')
  const points = new Map(list.map((u) => [u.email, u.properties.points]))
  t.same([1, 1999, 3999].map((i) => points.get(`resume${i}@example.com`)), [1, 1999, 3999])
  await waitFor(async () => (await users.byEmail('resume0@example.com'))?.properties.points === -1, 20_000, 'the edit made during the load')
})
