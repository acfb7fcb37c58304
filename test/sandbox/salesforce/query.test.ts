/** SOQL `query` / `queryAll` of the Salesforce stand-in: filters, order, limits, paging. */
import t from 'tap'
import jsforce from 'jsforce'
import { connect, startSandbox } from './login.ts'

const VERSION = '62.0'

async function seed(url: string, object: string, records: Record<string, unknown>[]): Promise<string[]> {
  const res = await fetch(`${url}/__sandbox/records/${object}`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ records, events: false }),
  })
  if (res.status !== 201) throw new Error(`seed failed: ${res.status} ${await res.text()}`)
  return ((await res.json()) as { ids: string[] }).ids
}

t.test('paging with nextRecordsUrl, jsforce autoFetch, COUNT()', async (t) => {
  const sandbox = await startSandbox(t)
  await seed(sandbox.url, 'Contact', Array.from({ length: 4500 }, (_, i) => ({ LastName: `L${i}`, Email: `u${i}@example.com` })))
  const tokens = await connect(sandbox.url)
  const conn = new jsforce.Connection({ instanceUrl: tokens.instance_url, accessToken: tokens.access_token, version: VERSION })

  const first = await conn.query<{ Id: string; Email: string }>('SELECT Id, Email FROM Contact')
  t.equal(first.totalSize, 4500)
  t.equal(first.done, false)
  t.equal(first.records.length, 2000, 'default batch size 2000')
  t.match(first.nextRecordsUrl, /\/services\/data\/v62\.0\/query\/01g[a-zA-Z0-9]{15}-2000$/)
  t.same(Object.keys(first.records[0]!), ['attributes', 'Id', 'Email'])
  const second = await conn.queryMore(first.nextRecordsUrl!)
  t.equal(second.records.length, 2000)
  const third = await conn.queryMore(second.nextRecordsUrl!)
  t.equal(third.records.length, 500)
  t.equal(third.done, true)
  t.notOk('nextRecordsUrl' in third)
  const ids = new Set([...first.records, ...second.records, ...third.records].map((r) => r.Id))
  t.equal(ids.size, 4500, 'every record exactly once')

  const all = await conn.query('SELECT Id FROM Contact', { autoFetch: true, maxFetch: 10_000 })
  t.equal(all.records.length, 4500)

  const small = await fetch(`${tokens.instance_url}/services/data/v${VERSION}/query?q=${encodeURIComponent('SELECT Id FROM Contact')}`, {
    headers: { authorization: `Bearer ${tokens.access_token}`, 'sforce-query-options': 'batchSize=200' },
  })
  const page = (await small.json()) as { records: unknown[]; nextRecordsUrl: string }
  t.equal(page.records.length, 200, 'Sforce-Query-Options batchSize')
  t.match(page.nextRecordsUrl, /^\/services\/data\/v62\.0\/query\/01g[a-zA-Z0-9]{15}-200$/, 'a relative URL on the wire')

  const count = await conn.query("SELECT COUNT() FROM Contact WHERE Email LIKE 'u1%'")
  t.same(count, { totalSize: 1111, done: true, records: [] })

  const bad = await fetch(`${tokens.instance_url}/services/data/v${VERSION}/query/01g5g0000000000AAA-2000`, { headers: { authorization: `Bearer ${tokens.access_token}` } })
  t.equal(bad.status, 400)
  t.equal(((await bad.json()) as { errorCode: string }[])[0]!.errorCode, 'INVALID_QUERY_LOCATOR')
})

t.test('WHERE, ORDER BY, LIMIT, OFFSET, NULL, IN, LIKE, dates, queryAll', async (t) => {
  const sandbox = await startSandbox(t)
  const ids = await seed(sandbox.url, 'Contact', [
    { LastName: 'Adams', Email: 'a@example.com', Cohort_Points__c: 10, Loyalty_Tier__c: 'Gold', Cohort_Member_Since__c: '2024-01-01', Cohort_Opt_In__c: true },
    { LastName: 'baker', Email: 'b@example.com', Cohort_Points__c: 20, Loyalty_Tier__c: 'Silver', Cohort_User_Id__c: 'u_2' },
    { LastName: 'Clark', Email: null, Cohort_Points__c: 30, Cohort_Member_Since__c: '2025-06-30' },
    { LastName: "O'Brien", Email: 'o@example.com', CreatedDate: '2020-01-01T00:00:00Z' },
  ])
  const tokens = await connect(sandbox.url)
  const conn = new jsforce.Connection({ instanceUrl: tokens.instance_url, accessToken: tokens.access_token, version: VERSION })
  const names = async (where: string) =>
    (await conn.query<{ LastName: string }>(`SELECT LastName FROM Contact ${where}`)).records.map((r) => r.LastName)

  t.same(await names("WHERE Email = 'A@EXAMPLE.COM'"), ['Adams'], '= on text is case-insensitive')
  t.same(await names("WHERE Email != 'a@example.com' ORDER BY LastName"), ['baker', 'Clark', "O'Brien"], '!= keeps nulls')
  t.same(await names('WHERE Email = null'), ['Clark'])
  t.same(await names('WHERE Email != NULL ORDER BY LastName DESC'), ["O'Brien", 'baker', 'Adams'])
  t.same(await names("WHERE Email IN ('a@example.com', 'o@example.com') ORDER BY LastName"), ['Adams', "O'Brien"])
  t.same(await names("WHERE Loyalty_Tier__c NOT IN ('Gold') ORDER BY LastName"), ['baker', 'Clark', "O'Brien"])
  t.same(await names("WHERE LastName LIKE 'O\\'%'"), ["O'Brien"], 'escaped quote and LIKE')
  t.same(await names("WHERE LastName LIKE '_lark'"), ['Clark'])
  t.same(await names('WHERE Cohort_Points__c > 10 AND Cohort_Points__c <= 30 ORDER BY Cohort_Points__c DESC'), ['Clark', 'baker'])
  t.same(await names("WHERE (Cohort_Points__c < 15 OR Loyalty_Tier__c = 'Silver') AND Email != null ORDER BY LastName"), ['Adams', 'baker'])
  t.same(await names('WHERE Cohort_Opt_In__c = true'), ['Adams'])
  t.same(await names('WHERE Cohort_Member_Since__c >= 2025-01-01'), ['Clark'])
  t.same(await names('WHERE CreatedDate < 2021-01-01T00:00:00Z'), ["O'Brien"], 'admin-set CreatedDate, datetime literal')
  t.same(await names('WHERE CreatedDate = LAST_N_DAYS:2 ORDER BY LastName LIMIT 2'), ['Adams', 'baker'])
  t.same(await names('ORDER BY Cohort_Points__c ASC NULLS LAST LIMIT 10 OFFSET 2'), ['Clark', "O'Brien"])
  t.same(await names('ORDER BY Cohort_Points__c'), ["O'Brien", 'Adams', 'baker', 'Clark'], 'ASC puts nulls first')
  t.same(await names(`WHERE Id = '${ids[1]!.slice(0, 15)}'`), ['baker'], '15-char id literal')
  t.same(await names("WHERE Cohort_User_Id__c = 'u_2'"), ['baker'])

  const q = await conn.query<Record<string, unknown>>(`SELECT Id, Name, LastModifiedDate, Cohort_Member_Since__c, MailingAddress FROM Contact WHERE Id = '${ids[0]}'`)
  t.match(q.records[0], { Name: 'Adams', Cohort_Member_Since__c: '2024-01-01', MailingAddress: null })
  t.match(q.records[0]!.LastModifiedDate, /\+0000$/)

  await fetch(`${sandbox.url}/__sandbox/records/Contact/${ids[0]}`, { method: 'DELETE' })
  t.same(await names("WHERE LastName = 'Adams'"), [], 'query skips deleted records')
  const all = await conn.query<{ LastName: string; IsDeleted: boolean }>("SELECT LastName, IsDeleted FROM Contact WHERE IsDeleted = true", { scanAll: true })
  t.same(all.records.map((r) => [r.LastName, r.IsDeleted]), [['Adams', true]], 'queryAll sees the recycle bin')
})

t.test('SOQL errors: MALFORMED_QUERY, INVALID_FIELD, INVALID_TYPE', async (t) => {
  const sandbox = await startSandbox(t)
  const tokens = await connect(sandbox.url)
  const run = async (soql: string) => {
    const res = await fetch(`${tokens.instance_url}/services/data/v${VERSION}/query?q=${encodeURIComponent(soql)}`, { headers: { authorization: `Bearer ${tokens.access_token}` } })
    return { status: res.status, body: (await res.json()) as { errorCode: string; message: string }[] }
  }
  const field = await run('SELECT Id, Nope FROM Contact')
  t.equal(field.status, 400)
  t.equal(field.body[0]!.errorCode, 'INVALID_FIELD')
  t.equal(field.body[0]!.message, "\nSELECT Id, Nope FROM Contact\n           ^\nERROR at Row:1:Column:12\nNo such column 'Nope' on entity 'Contact'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.")
  const type = await run('SELECT Id FROM Nope')
  t.equal(type.body[0]!.errorCode, 'INVALID_TYPE')
  t.match(type.body[0]!.message, "sObject type 'Nope' is not supported.")
  const malformed = await run('SELECT Id FROM Contact WHERE')
  t.equal(malformed.body[0]!.errorCode, 'MALFORMED_QUERY')
  t.match(malformed.body[0]!.message, 'unexpected token: <EOF>')
  const filter = await run("SELECT Id FROM Contact WHERE Cohort_Points__c = 'ten'")
  t.equal(filter.body[0]!.errorCode, 'INVALID_QUERY_FILTER_OPERATOR')
  const missing = await fetch(`${tokens.instance_url}/services/data/v${VERSION}/query`, { headers: { authorization: `Bearer ${tokens.access_token}` } })
  t.equal(missing.status, 400)
})
