/**
 * Bulk API 2.0 query jobs read as a stream, against the Salesforce stand-in over real HTTP,
 * through the merchant's jsforce Connection from the connection factory: many pages with a
 * small `maxRecords`, batches, typing (records equal REST's), queryAll with deleted records,
 * a failed job, abort by signal and by leaving the loop, a 401 refreshed through the
 * single-flight refresh, a 503 on a page retried without duplicates, every API call counted,
 * and a create whose answer is lost never leaving its job running unread.
 */
import t from 'tap'
import { BULK_API_CALL, bulkQuery, fieldTypesOf, parseLimitInfo, selectPage, type BulkApiCall, type SalesforceRecord } from '../../src/salesforce/index.ts'
import { salesforceSetup } from './bulk-setup.ts'

const FIELDS = ['FirstName', 'LastName', 'Email', 'Cohort_Points__c', 'HasOptedOutOfEmail', 'Birthdate', 'CreatedDate']
const SOQL = `SELECT Id, SystemModstamp, ${FIELDS.join(', ')} FROM Contact ORDER BY Id ASC`

function seed(n: number) {
  return Array.from({ length: n }, (_, i) => ({
    FirstName: i % 4 === 0 ? null : `F${i}`, LastName: `Contact "${i}", x\nline two`, Email: `c${i}@example.com`,
    Cohort_Points__c: i % 5 === 0 ? null : i * 10, HasOptedOutOfEmail: i % 2 === 0, Birthdate: i % 3 === 0 ? null : '1990-01-0' + ((i % 9) + 1),
  }))
}

async function collect(batches: AsyncIterable<SalesforceRecord[]>) {
  const sizes: number[] = []
  const records: SalesforceRecord[] = []
  for await (const batch of batches) {
    sizes.push(batch.length)
    records.push(...batch)
  }
  return { sizes, records }
}

t.test('many pages by locator, bounded batches, records typed exactly as REST gives them, every call counted', async (t) => {
  const sf = await salesforceSetup(t)
  await sf.admin('POST', '/records/Contact', { records: seed(23), events: false })
  const conn = await sf.conn()
  const types = await fieldTypesOf(conn, 'Contact')
  const before = await sf.stats()
  let calls = 0
  const announced: BulkApiCall[] = []
  const listener = (call: BulkApiCall) => void announced.push(call)
  conn.on(BULK_API_CALL, listener)
  t.teardown(() => void conn.off(BULK_API_CALL, listener))
  const { sizes, records } = await collect(bulkQuery(conn, { soql: SOQL, object: 'Contact', operation: 'query', types }, { maxRecords: 5, batchSize: 4, pollMinMs: 5, onApiCall: () => calls++ }))
  t.equal(records.length, 23)
  t.ok(sizes.every((s) => s <= 4), `batches of at most 4 (${sizes.join(',')})`)
  t.same(sizes, [4, 1, 4, 1, 4, 1, 4, 1, 3], 'a batch never spans two pages')
  const lastUsage = parseLimitInfo(announced.at(-1)?.limitInfo)!
  t.same(conn.limitInfo?.apiUsage, { used: lastUsage.used, limit: lastUsage.max }, 'conn.limitInfo follows the Bulk answers, as jsforce does for its own')
  const rest = await selectPage(conn, 'Contact', FIELDS, null, 100)
  t.same(records, rest, 'the same records, field names, types and order as a REST query')
  t.equal(records[0]!.FirstName, null)
  t.equal(records[1]!.HasOptedOutOfEmail, false)
  t.equal(records[2]!.HasOptedOutOfEmail, true)
  t.equal(records[1]!.Cohort_Points__c, 10)
  t.match(records[0]!.SystemModstamp, /\+0000$/)
  const after = await sf.stats()
  const delta = (k: string) => (after.byEndpoint[k] ?? 0) - (before.byEndpoint[k] ?? 0)
  t.equal(delta('GET /jobs/query/{id}/results'), 5, 'five pages of at most 5')
  t.equal(delta('POST /jobs/query'), 1)
  t.equal(delta('DELETE /jobs/query/{id}'), 1, 'the job is deleted once read')
  t.equal(calls, after.total - before.total - 1, 'onApiCall saw every call but the REST comparison')
  t.equal(announced.length, calls, 'the connection announced every Bulk call (for the API budget)')
  t.ok(announced.every((c) => /\/services\/data\/v62\.0\/jobs\/query/.test(c.url) && /api-usage=\d+\/\d+/.test(c.limitInfo ?? '')), 'with its URL and Sforce-Limit-Info')
  t.same((await sf.jobs()).length, 0)
})

t.test('queryAll sees deleted records with IsDeleted; query does not', async (t) => {
  const sf = await salesforceSetup(t)
  const { ids } = await sf.admin('POST', '/records/Contact', { records: seed(6), events: false })
  await sf.admin('DELETE', `/records/Contact/${ids[2]}`)
  const conn = await sf.conn()
  const types = await fieldTypesOf(conn, 'Contact')
  const soql = 'SELECT Id, Email, IsDeleted FROM Contact ORDER BY Id ASC'
  const all = await collect(bulkQuery(conn, { soql, object: 'Contact', operation: 'queryAll', types }, { pollMinMs: 5 }))
  t.equal(all.records.length, 6)
  t.same(all.records.filter((r) => r.IsDeleted === true).map((r) => r.Id), [ids[2]])
  const live = await collect(bulkQuery(conn, { soql, object: 'Contact', operation: 'query', types }, { pollMinMs: 5 }))
  t.same(live.records.map((r) => r.Id), ids.filter((_: string, i: number) => i !== 2))
  t.ok(live.records.every((r) => r.IsDeleted === false))
})

t.test('a failed job is a clear salesforce.rejected', async (t) => {
  const sf = await salesforceSetup(t)
  await sf.admin('POST', '/records/Contact', { records: seed(3), events: false })
  await sf.admin('POST', '/faults', { kind: 'bulk-query-failed' })
  const conn = await sf.conn()
  const types = await fieldTypesOf(conn, 'Contact')
  await t.rejects(collect(bulkQuery(conn, { soql: SOQL, object: 'Contact', operation: 'query', types }, { pollMinMs: 5 })), { code: 'salesforce.rejected', message: /job 750\w+ failed: Query job failed/ })
  t.same((await sf.jobs()).map((j) => j.state), ['Failed'])
})

t.test('bad SOQL at creation is not retried', async (t) => {
  const sf = await salesforceSetup(t)
  const conn = await sf.conn()
  const before = await sf.stats()
  await t.rejects(collect(bulkQuery(conn, { soql: 'SELECT Id, Nope__c FROM Contact', object: 'Contact', operation: 'query', types: new Map() }, { pollMinMs: 5 })), { code: 'salesforce.rejected', message: /400 INVALID_FIELD/ })
  t.equal((await sf.stats()).byEndpoint['POST /jobs/query']! - (before.byEndpoint['POST /jobs/query'] ?? 0), 1)
})

t.test('abort: the signal aborts the running job; leaving the loop early deletes a completed one', async (t) => {
  const sf = await salesforceSetup(t, { bulk: { pageSize: 50_000, queuedMs: 0, processingMs: 60_000 } })
  await sf.admin('POST', '/records/Contact', { records: seed(10), events: false })
  const conn = await sf.conn()
  const types = await fieldTypesOf(conn, 'Contact')
  const controller = new AbortController()
  const reading = collect(bulkQuery(conn, { soql: SOQL, object: 'Contact', operation: 'query', types }, { pollMinMs: 20, pollMaxMs: 20, signal: controller.signal }))
  await sf.waitFor(async () => (await sf.jobs()).some((j) => j.state === 'InProgress'), 'job in progress')
  controller.abort()
  await t.rejects(reading, { code: 'aborted' })
  t.same((await sf.jobs()).map((j) => j.state), ['Aborted'], 'PATCH state Aborted')

  const quick = await salesforceSetup(t)
  await quick.admin('POST', '/records/Contact', { records: seed(10), events: false })
  const conn2 = await quick.conn()
  let batches = 0
  for await (const batch of bulkQuery(conn2, { soql: SOQL, object: 'Contact', operation: 'query', types }, { pollMinMs: 5, batchSize: 3, maxRecords: 4 })) {
    batches++
    t.equal(batch.length, 3)
    break
  }
  t.equal(batches, 1, 'one batch read before leaving')
  t.same(await quick.jobs(), [], 'a completed job left early is deleted')
})

t.test('a 401 refreshes through the connection factory and the read goes on', async (t) => {
  const sf = await salesforceSetup(t)
  await sf.admin('POST', '/records/Contact', { records: seed(9), events: false })
  const conn = await sf.conn()
  const types = await fieldTypesOf(conn, 'Contact')
  const token = await sf.accessToken()
  const batches = bulkQuery(conn, { soql: SOQL, object: 'Contact', operation: 'query', types }, { pollMinMs: 5, batchSize: 2, maxRecords: 3 })
  const first = await batches.next()
  t.equal((first.value as SalesforceRecord[]).length, 2)
  await sf.admin('POST', '/faults', { kind: 'expire-tokens' })
  const rest = await collect({ [Symbol.asyncIterator]: () => batches })
  t.equal(rest.records.length, 7, 'the rest of the records, none twice')
  t.not(await sf.accessToken(), token, 'the new access token is stored')
  t.equal(conn.accessToken, await sf.accessToken())
})

t.test('a 503 on a results page is retried from its locator without handing out a record twice', async (t) => {
  const sf = await salesforceSetup(t)
  await sf.admin('POST', '/records/Contact', { records: seed(12), events: false })
  const conn = await sf.conn()
  const types = await fieldTypesOf(conn, 'Contact')
  await sf.admin('POST', '/faults', { kind: 'http-503', match: '/results', count: 2 })
  const { records } = await collect(bulkQuery(conn, { soql: SOQL, object: 'Contact', operation: 'query', types }, { pollMinMs: 5, maxRecords: 5 }))
  t.equal(records.length, 12)
  t.equal(new Set(records.map((r) => r.Id)).size, 12)
})

// The create is not idempotent: a lost answer may have made a job (contracts: nothing runs unread).
const CREATE = '/^POST \\/services\\/data\\/v[\\d.]+\\/jobs\\/query\\/?$/'
const LIST = '/^GET \\/services\\/data\\/v[\\d.]+\\/jobs\\/query\\/?$/'

/** `n` Contacts on a fresh stand-in, the query of them, and the calls made from now on. */
async function lostCreateSetup(t: Parameters<typeof salesforceSetup>[0], n: number, options: Parameters<typeof salesforceSetup>[1] = {}) {
  const sf = await salesforceSetup(t, options)
  await sf.admin('POST', '/records/Contact', { records: seed(n), events: false })
  const conn = await sf.conn()
  const query = { soql: SOQL, object: 'Contact', operation: 'query' as const, types: await fieldTypesOf(conn, 'Contact') }
  const before = await sf.stats()
  const calls = async (endpoint: string) => ((await sf.stats()).byEndpoint[endpoint] ?? 0) - (before.byEndpoint[endpoint] ?? 0)
  const states = async () => (await sf.jobs()).map((j) => j.state)
  return { sf, conn, query, calls, states }
}

t.test('a create whose answer is lost: the job it made is aborted before the create is tried again', async (t) => {
  const { sf, conn, query, calls, states } = await lostCreateSetup(t, 7)
  await sf.admin('POST', '/faults', { kind: 'answer-lost', match: CREATE })
  const { records } = await collect(bulkQuery(conn, query, { pollMinMs: 5 }))
  t.equal(records.length, 7, 'the read completes on the second job')
  t.equal(await calls('POST /jobs/query'), 2, 'created twice: the lost answer and the retry')
  t.equal(await calls('GET /jobs/query'), 1, 'one look-up before the retry')
  t.same(await states(), ['Aborted'], 'the orphan is aborted, not left running; the read job is deleted')
})

t.test('the orphan look-up leaves alone a job another read of the same object is reading', async (t) => {
  const { sf, conn, query, states } = await lostCreateSetup(t, 5, { bulk: { pageSize: 50_000, queuedMs: 0, processingMs: 1_500 } })
  const first = collect(bulkQuery(conn, query, { pollMinMs: 20, pollMaxMs: 20 }))
  await sf.waitFor(async () => (await sf.jobs()).length === 1, 'the first read created its job')
  await sf.admin('POST', '/faults', { kind: 'answer-lost', match: CREATE })
  const second = await collect(bulkQuery(conn, query, { pollMinMs: 20, pollMaxMs: 20 }))
  t.equal(second.records.length, 5)
  t.equal((await first).records.length, 5, 'the first read was not aborted under it')
  t.same(await states(), ['Aborted'], 'only the orphan was aborted')
})

t.test('while the look-up fails no job is created; it is tried again first', async (t) => {
  const { sf, conn, query, calls, states } = await lostCreateSetup(t, 4)
  await sf.admin('POST', '/faults', { kind: 'answer-lost', match: CREATE })
  await sf.admin('POST', '/faults', { kind: 'http-503', match: LIST, count: 2 })
  const { records } = await collect(bulkQuery(conn, query, { pollMinMs: 5 }))
  t.equal(records.length, 4)
  t.equal(await calls('POST /jobs/query'), 2, 'no create while the look-up failed')
  t.same(await states(), ['Aborted'])
})

t.test('tries used up after a lost answer: a last look-up still aborts the orphan', async (t) => {
  const { sf, conn, query, states } = await lostCreateSetup(t, 3)
  await sf.admin('POST', '/faults', { kind: 'answer-lost', match: CREATE })
  await t.rejects(collect(bulkQuery(conn, query, { pollMinMs: 5, retries: 0 })), { code: 'salesforce.unavailable' })
  t.same(await states(), ['Aborted'], 'not left UploadComplete')
})
