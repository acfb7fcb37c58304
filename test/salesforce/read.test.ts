/**
 * readRecords against the Salesforce stand-in over real HTTP: REST at or below the threshold,
 * one Bulk job above it, the same records either way (queryAll with IsDeleted, a `where`
 * window, resuming after an Id), batches of `pageSize`, and a compound field kept on REST.
 */
import t from 'tap'
import { readRecords, type SalesforceRecord } from '../../src/salesforce/index.ts'
import { salesforceSetup } from './bulk-setup.ts'

const FIELDS = ['FirstName', 'LastName', 'Email', 'Cohort_Points__c', 'HasOptedOutOfEmail', 'Birthdate']
const fast = { pollMinMs: 5, maxRecords: 7 }

async function read(...args: Parameters<typeof readRecords>) {
  const sizes: number[] = []
  const records: SalesforceRecord[] = []
  for await (const batch of readRecords(...args)) {
    sizes.push(batch.length)
    records.push(...batch)
  }
  return { sizes, records }
}

t.test('the threshold picks the path; both give the same records in Id order', async (t) => {
  const sf = await salesforceSetup(t)
  const { ids } = await sf.admin('POST', '/records/Contact', {
    records: Array.from({ length: 25 }, (_, i) => ({ LastName: `L${i}`, Email: i % 6 ? `r${i}@example.com` : null, Cohort_Points__c: i, HasOptedOutOfEmail: i % 2 === 1 })),
    events: false,
  })
  await sf.admin('DELETE', `/records/Contact/${ids[3]}`)
  const conn = await sf.conn()
  const jobsBefore = (await sf.stats()).byEndpoint['POST /jobs/query'] ?? 0

  const starts: unknown[] = []
  let restCalls = 0
  const rest = await read(conn, { object: 'Contact', fields: FIELDS }, { bulkThreshold: 24, pageSize: 10, onStart: (s) => void starts.push(s), onApiCall: () => restCalls++, bulk: fast })
  t.same(starts, [{ total: 24, path: 'rest' }], 'at the threshold: REST')
  t.same(rest.sizes, [10, 10, 4])
  t.equal(restCalls, 4, 'COUNT() and three pages')
  t.equal((await sf.stats()).byEndpoint['POST /jobs/query'] ?? 0, jobsBefore, 'no Bulk job')

  let bulkCalls = 0
  const bulk = await read(conn, { object: 'Contact', fields: FIELDS }, { bulkThreshold: 23, pageSize: 10, onStart: (s) => void starts.push(s), onApiCall: () => bulkCalls++, bulk: fast })
  t.same(starts[1], { total: 24, path: 'bulk' }, 'above it: Bulk')
  t.equal((await sf.stats()).byEndpoint['POST /jobs/query'], jobsBefore + 1, 'one Bulk job')
  t.ok(bulk.sizes.every((s) => s <= 10))
  t.same(bulk.records, rest.records, 'the same records')
  t.same(rest.records.map((r) => r.Id), [...rest.records.map((r) => r.Id)].sort(), 'in Id order')
  t.ok(bulkCalls >= 1 + 1 + 1 + 2 + 4 + 1, `every call counted (${bulkCalls}): count, describe, create, polls, 4 pages, delete`)

  const all = await read(conn, { object: 'Contact', fields: FIELDS, queryAll: true }, { bulkThreshold: 5, bulk: fast })
  const allRest = await read(conn, { object: 'Contact', fields: FIELDS, queryAll: true }, { bulkThreshold: 1000 })
  t.equal(all.records.length, 25)
  t.same(all.records, allRest.records, 'queryAll: the same on both paths')
  t.same(all.records.filter((r) => r.IsDeleted).map((r) => r.Id), [ids[3]])
  t.ok(all.records.every((r) => typeof r.IsDeleted === 'boolean'))
})

t.test('where and afterId narrow both the count and the read; a compound field stays on REST', async (t) => {
  const sf = await salesforceSetup(t)
  const { ids } = await sf.admin('POST', '/records/Contact', { records: Array.from({ length: 30 }, (_, i) => ({ LastName: `L${i}`, Cohort_Points__c: i, MailingCity: `C${i}` })), events: false })
  const conn = await sf.conn()
  for (const bulkThreshold of [1, 1000]) {
    const starts: Array<{ total: number; path: string }> = []
    const { records } = await read(conn, { object: 'Contact', fields: ['Cohort_Points__c'], where: 'Cohort_Points__c >= 10', afterId: ids[19] }, { bulkThreshold, onStart: (s) => void starts.push(s), bulk: fast })
    t.same(records.map((r) => r.Id), ids.slice(20), `after the Id, within the filter (threshold ${bulkThreshold})`)
    t.equal(starts[0]!.total, 10)
    t.equal(starts[0]!.path, bulkThreshold === 1 ? 'bulk' : 'rest')
  }
  const starts: Array<{ path: string }> = []
  const { records } = await read(conn, { object: 'Contact', fields: ['MailingAddress'] }, { bulkThreshold: 1, onStart: (s) => void starts.push(s), bulk: fast })
  t.equal(starts[0]!.path, 'rest', 'Bulk cannot read a compound address')
  t.equal(records.length, 30)
})

t.test('a stopped read ends with aborted', async (t) => {
  const sf = await salesforceSetup(t, { bulk: { pageSize: 50_000, queuedMs: 0, processingMs: 60_000 } })
  await sf.admin('POST', '/records/Contact', { records: Array.from({ length: 5 }, (_, i) => ({ LastName: `L${i}` })), events: false })
  const conn = await sf.conn()
  const controller = new AbortController()
  const reading = read(conn, { object: 'Contact', fields: [] }, { bulkThreshold: 1, signal: controller.signal, bulk: { pollMinMs: 20, pollMaxMs: 20 } })
  await sf.waitFor(async () => (await sf.jobs()).length > 0, 'job created')
  controller.abort()
  await t.rejects(reading, { code: 'aborted' })
  await sf.waitFor(async () => (await sf.jobs()).every((j) => j.state === 'Aborted'), 'job aborted')
})
