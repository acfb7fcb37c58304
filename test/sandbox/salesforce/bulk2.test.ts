/**
 * Bulk API 2.0 query jobs: jsforce's `conn.bulk2.query` end to end, and the raw wire:
 * job info and state transitions, CSV pages with `Sforce-Locator` / `Sforce-NumberOfRecords`
 * and `maxRecords`, queryAll, abort, delete, failures, errors, API call counting.
 */
import t from 'tap'
import jsforce from 'jsforce'
import { connect, startSandbox } from './login.ts'
import { admin } from './streaming-helpers.ts'

const VERSION = '62.0'

async function bulk(url: string, token: string, method: string, path: string, body?: unknown, version = VERSION) {
  const res = await fetch(`${url}/services/data/v${version}/jobs/query${path}`, {
    method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json' }, body: body ? JSON.stringify(body) : undefined,
  })
  const text = await res.text()
  const type = res.headers.get('content-type') ?? ''
  return { status: res.status, headers: res.headers, body: type.includes('json') && text ? JSON.parse(text) : text }
}

/** Poll a job until it reaches a terminal state (each read moves it one step). */
async function finish(url: string, token: string, id: string): Promise<string[]> {
  const states: string[] = []
  for (let i = 0; i < 20; i++) {
    const { body } = await bulk(url, token, 'GET', `/${id}`)
    states.push(body.state)
    if (['JobComplete', 'Failed', 'Aborted'].includes(body.state)) return states
  }
  throw new Error(`job never finished: ${states.join(' → ')}`)
}

t.test('jsforce conn.bulk2.query reads every record', async (t) => {
  const sandbox = await startSandbox(t)
  const records = Array.from({ length: 1200 }, (_, i) => ({ FirstName: i % 3 ? `F${i}` : null, LastName: `Contact "${i}", x`, Email: `c${i}@example.com`, Cohort_Points__c: i }))
  await admin(sandbox.url, 'POST', '/records/Contact', { records, events: false })
  const tokens = await connect(sandbox.url)
  const conn = new jsforce.Connection({ instanceUrl: tokens.instance_url, accessToken: tokens.access_token, version: VERSION, callOptions: { client: 'cohort-bridge' } })
  conn.bulk2.pollInterval = 10
  const stream = await conn.bulk2.query('SELECT Id, FirstName, LastName, Email, Cohort_Points__c, LastModifiedDate FROM Contact WHERE Cohort_Points__c >= 100')
  const rows: Record<string, string>[] = []
  await new Promise<void>((resolve, reject) => {
    stream.on('record', (r: Record<string, string>) => rows.push(r))
    stream.on('end', () => resolve())
    stream.on('error', reject)
  })
  t.equal(rows.length, 1100)
  t.match(rows[0], { LastName: 'Contact "100", x', Email: 'c100@example.com', Cohort_Points__c: '100' })
  t.equal(rows.find((r) => r.Cohort_Points__c === '102')!.FirstName, '', 'null arrives as an empty field')
  t.match(rows[0]!.LastModifiedDate, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
  const stats = (await admin(sandbox.url, 'GET', '/stats')).body as { apiCalls: { byEndpoint: Record<string, number>; byClient: Record<string, number> } }
  t.match(stats.apiCalls.byEndpoint, { 'POST /jobs/query': 1, 'GET /jobs/query/{id}/results': 1 })
  t.ok(stats.apiCalls.byEndpoint['GET /jobs/query/{id}']! >= 2, 'each status poll is an API call')
  t.ok(stats.apiCalls.byClient['cohort-bridge']! >= 4)
})

t.test('job info, states, CSV pages with locators, maxRecords, queryAll, delimiters', async (t) => {
  const sandbox = await startSandbox(t, { bulk: { pageSize: 4 } })
  const tokens = await connect(sandbox.url)
  const created = await admin(sandbox.url, 'POST', '/records/Contact', {
    records: Array.from({ length: 10 }, (_, i) => ({ LastName: `L${i}`, Title: i === 0 ? 'a "quoted", title\nwith a newline' : null, HasOptedOutOfEmail: i === 1 })),
    events: false,
  })
  const ids = created.body.ids as string[]
  await admin(sandbox.url, 'DELETE', `/records/Contact/${ids[9]}`)

  const job = await bulk(sandbox.url, tokens.access_token, 'POST', '', { operation: 'query', query: 'SELECT Id, LastName, Title, HasOptedOutOfEmail FROM Contact' })
  t.equal(job.status, 200)
  t.match(job.body, {
    operation: 'query', object: 'Contact', state: 'UploadComplete', concurrencyMode: 'Parallel', contentType: 'CSV',
    apiVersion: 62, lineEnding: 'LF', columnDelimiter: 'COMMA',
  })
  t.match(job.body.id, /^750[A-Za-z0-9]{15}$/)
  t.match(job.body.createdDate, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$/)
  const early = await bulk(sandbox.url, tokens.access_token, 'GET', `/${job.body.id}/results`)
  t.equal(early.status, 400, 'no results before JobComplete')
  t.match(early.body, [{ errorCode: 'InvalidJobState' }])

  t.same(await finish(sandbox.url, tokens.access_token, job.body.id), ['InProgress', 'JobComplete'])
  const info = await bulk(sandbox.url, tokens.access_token, 'GET', `/${job.body.id}`)
  t.match(info.body, { jobType: 'V2Query', numberRecordsProcessed: 9, retries: 0, isPkChunkingSupported: true })

  const page1 = await bulk(sandbox.url, tokens.access_token, 'GET', `/${job.body.id}/results`)
  t.equal(page1.headers.get('content-type'), 'text/csv')
  t.equal(page1.headers.get('sforce-numberofrecords'), '4')
  const locator = page1.headers.get('sforce-locator')!
  t.not(locator, 'null')
  t.equal(page1.body, [
    '"Id","LastName","Title","HasOptedOutOfEmail"',
    `"${ids[0]}","L0","a ""quoted"", title\nwith a newline","false"`,
    `"${ids[1]}","L1",,"true"`,
    `"${ids[2]}","L2",,"false"`,
    `"${ids[3]}","L3",,"false"`,
    '',
  ].join('\n'))
  const page2 = await bulk(sandbox.url, tokens.access_token, 'GET', `/${job.body.id}/results?locator=${locator}&maxRecords=10`)
  t.equal(page2.headers.get('sforce-numberofrecords'), '5')
  t.equal(page2.headers.get('sforce-locator'), 'null', 'the literal null on the last page')
  t.match(page2.body, /^"Id","LastName","Title","HasOptedOutOfEmail"\n/, 'every page starts with the header row')
  const again = await bulk(sandbox.url, tokens.access_token, 'GET', `/${job.body.id}/results?locator=${locator}&maxRecords=10`)
  t.equal(again.body, page2.body, 'a locator can be fetched again')
  t.equal((await bulk(sandbox.url, tokens.access_token, 'GET', `/${job.body.id}/results?locator=bogus`)).status, 400)
  t.equal((await bulk(sandbox.url, tokens.access_token, 'GET', `/${job.body.id}/results`, undefined, '61.0')).status, 409, 'results need the creating version')

  const all = await bulk(sandbox.url, tokens.access_token, 'POST', '', { operation: 'queryAll', query: `SELECT Id FROM Contact WHERE Id = '${ids[9]}'`, columnDelimiter: 'PIPE', lineEnding: 'CRLF' })
  await finish(sandbox.url, tokens.access_token, all.body.id)
  const deleted = await bulk(sandbox.url, tokens.access_token, 'GET', `/${all.body.id}/results`)
  t.equal(deleted.body, `"Id"\r\n"${ids[9]}"\r\n`, 'queryAll includes deleted records')

  const listed = await bulk(sandbox.url, tokens.access_token, 'GET', '')
  t.match(listed.body, { done: true, nextRecordsUrl: null })
  t.equal(listed.body.records.length, 2)
  const limits = await fetch(`${sandbox.url}/services/data/v${VERSION}/limits`, { headers: { authorization: `Bearer ${tokens.access_token}` } }).then(async (r) => (await r.json()) as Record<string, unknown>)
  t.same(limits.DailyBulkV2QueryJobs, { Max: 10000, Remaining: 9998 }, 'each created query job uses up DailyBulkV2QueryJobs')
})

t.test('abort, delete, failed jobs and errors', async (t) => {
  const sandbox = await startSandbox(t)
  const tokens = await connect(sandbox.url)
  const query = 'SELECT Id FROM Contact'
  const job = await bulk(sandbox.url, tokens.access_token, 'POST', '', { operation: 'query', query })
  t.equal((await bulk(sandbox.url, tokens.access_token, 'DELETE', `/${job.body.id}`)).status, 400, 'a running job cannot be deleted')
  const aborted = await bulk(sandbox.url, tokens.access_token, 'PATCH', `/${job.body.id}`, { state: 'Aborted' })
  t.match(aborted.body, { id: job.body.id, state: 'Aborted' })
  t.equal((await bulk(sandbox.url, tokens.access_token, 'GET', `/${job.body.id}`)).body.state, 'Aborted')
  t.match((await bulk(sandbox.url, tokens.access_token, 'PATCH', `/${job.body.id}`, { state: 'Aborted' })).body, [{ errorCode: 'InvalidJobState' }])
  t.equal((await bulk(sandbox.url, tokens.access_token, 'DELETE', `/${job.body.id}`)).status, 204)
  t.same(await bulk(sandbox.url, tokens.access_token, 'GET', `/${job.body.id}`).then((r) => [r.status, r.body]), [404, [{ message: 'The requested resource does not exist', errorCode: 'NOT_FOUND' }]])

  await admin(sandbox.url, 'POST', '/faults', { kind: 'bulk-query-failed' })
  t.equal((await bulk(sandbox.url, tokens.access_token, 'GET', '')).status, 200, 'other calls leave the fault waiting')
  const failing = await bulk(sandbox.url, tokens.access_token, 'POST', '', { operation: 'query', query })
  t.same(await finish(sandbox.url, tokens.access_token, failing.body.id), ['InProgress', 'Failed'])

  const bad = await bulk(sandbox.url, tokens.access_token, 'POST', '', { operation: 'query', query: 'SELECT Nope FROM Contact' })
  t.equal(bad.status, 400)
  t.match(bad.body, [{ errorCode: 'INVALID_FIELD', message: /No such column 'Nope' on entity 'Contact'/ }])
  t.match((await bulk(sandbox.url, tokens.access_token, 'POST', '', { operation: 'query', query: 'SELECT Id FROM Nope' })).body, [{ errorCode: 'INVALID_TYPE' }])
  t.match((await bulk(sandbox.url, tokens.access_token, 'POST', '', { operation: 'query', query: 'SELECT FROM' })).body, [{ errorCode: 'MALFORMED_QUERY' }])
  t.match((await bulk(sandbox.url, tokens.access_token, 'POST', '', { operation: 'query', query: 'SELECT COUNT() FROM Contact' })).body, [{ errorCode: 'API_ERROR' }])
  t.match((await bulk(sandbox.url, tokens.access_token, 'POST', '', { operation: 'query', query: 'SELECT MailingAddress FROM Contact' })).body, [{ errorCode: 'API_ERROR' }])
  t.match((await bulk(sandbox.url, tokens.access_token, 'POST', '', { operation: 'insert', query })).body, [{ errorCode: 'InvalidJob' }])
  t.match((await bulk(sandbox.url, tokens.access_token, 'POST', '', { operation: 'query', query, contentType: 'JSON' })).body, [{ errorCode: 'InvalidJob' }])
  t.same(await bulk(sandbox.url, tokens.access_token, 'POST', '', { operation: 'query', query }, '46.0').then((r) => [r.status, r.body]),
    [404, [{ message: 'The requested resource does not exist', errorCode: 'NOT_FOUND' }]], 'Bulk API 2.0 query needs API 47.0 or later')

  await admin(sandbox.url, 'POST', '/faults', { kind: 'expire-tokens' })
  t.same(await bulk(sandbox.url, tokens.access_token, 'POST', '', { operation: 'query', query }).then((r) => [r.status, r.body]), [401, [{ message: 'Session expired or invalid', errorCode: 'INVALID_SESSION_ID' }]])
})
