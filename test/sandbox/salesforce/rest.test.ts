/**
 * REST API of the Salesforce stand-in: versions, describe, single-record CRUD, limits and the
 * `Sforce-Limit-Info` header, the answer-lost fault, through jsforce and raw HTTP.
 */
import t from 'tap'
import jsforce from 'jsforce'
import { connect, startSandbox, type Tokens } from './login.ts'

const VERSION = '62.0'

function api(tokens: Tokens, client = 'conformance-test') {
  return async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${tokens.instance_url}/services/data/v${VERSION}${path}`, {
      method,
      headers: { authorization: `Bearer ${tokens.access_token}`, 'sforce-call-options': `client=${client}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    })
    const text = await res.text()
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null }
  }
}

t.test('versions list with and without trailing slash; not an API call', async (t) => {
  const sandbox = await startSandbox(t)
  for (const path of ['/services/data', '/services/data/']) {
    const res = await fetch(`${sandbox.url}${path}`)
    t.equal(res.status, 200)
    t.equal(res.headers.get('sforce-limit-info'), null)
    const versions = (await res.json()) as { label: string; url: string; version: string }[]
    t.same(versions.at(-1), { label: "Winter '25", url: '/services/data/v62.0', version: '62.0' })
    t.same(versions.find((v) => v.version === '61.0'), { label: "Summer '24", url: '/services/data/v61.0', version: '61.0' })
  }
  const stats = (await (await fetch(`${sandbox.url}/__sandbox/stats`)).json()) as { apiCalls: { total: number } }
  t.equal(stats.apiCalls.total, 0)
})

t.test('describeGlobal and describe through jsforce', async (t) => {
  const sandbox = await startSandbox(t)
  const tokens = await connect(sandbox.url)
  const conn = new jsforce.Connection({ instanceUrl: tokens.instance_url, accessToken: tokens.access_token, version: VERSION })
  const global = await conn.describeGlobal()
  t.equal(global.maxBatchSize, 200)
  t.same(global.sobjects.map((o) => o.name).sort(), ['Account', 'Contact', 'Lead', 'Member__c'])
  const contactEntry = global.sobjects.find((o) => o.name === 'Contact')!
  t.equal(contactEntry.keyPrefix, '003')
  t.equal(contactEntry.urls.describe, '/services/data/v62.0/sobjects/Contact/describe')

  const contact = await conn.sobject('Contact').describe()
  const field = (name: string) => contact.fields.find((f) => f.name === name)!
  t.match(field('Cohort_User_Id__c'), { type: 'string', length: 64, custom: true, createable: true, updateable: true, nillable: true })
  t.match(field('LastName'), { type: 'string', length: 80, nillable: false, createable: true, defaultedOnCreate: false, compoundFieldName: 'Name' })
  t.match(field('Name'), { type: 'string', createable: false, updateable: false, nameField: true })
  t.match(field('Email'), { type: 'email', length: 80, soapType: 'xsd:string' })
  t.match(field('Id'), { type: 'id', soapType: 'tns:ID', createable: false })
  t.match(field('AccountId'), { type: 'reference', referenceTo: ['Account'], relationshipName: 'Account' })
  t.match(field('Cohort_Points__c'), { type: 'double' })
  t.match(field('Loyalty_Tier__c'), { type: 'picklist' })
  t.ok(field('Loyalty_Tier__c').picklistValues?.some((p) => p.value === 'Gold'))
  t.match(field('Cohort_Member_Since__c'), { type: 'date' })
  t.match(field('Cohort_Opt_In__c'), { type: 'boolean', nillable: false, defaultedOnCreate: true })
  t.match(field('CreatedDate'), { type: 'datetime', createable: false })
  t.match(field('MailingAddress'), { type: 'address', createable: false })
  const types = new Set(contact.fields.map((f) => f.type))
  for (const type of ['string', 'email', 'phone', 'url', 'textarea', 'picklist', 'boolean', 'double', 'currency', 'percent', 'date', 'datetime', 'reference', 'id']) {
    t.ok(types.has(type as never), `Contact has a ${type} field`)
  }
  const lead = await conn.sobject('Lead').describe()
  const required = lead.fields.filter((f) => f.createable && !f.nillable && !f.defaultedOnCreate).map((f) => f.name).sort()
  t.same(required, ['Company', 'LastName'], 'Lead requires LastName and Company')
  t.ok(lead.fields.some((f) => f.name === 'Cohort_User_Id__c' && f.length === 64))
  const account = await conn.sobject('Account').describe()
  t.ok(account.fields.some((f) => f.type === 'int'), 'Account has an int field')
  const member = await conn.sobject('Member__c').describe()
  t.equal(member.custom, true)
  t.equal(member.keyPrefix, 'a00')

  const unknown = await api(tokens)('GET', '/sobjects/Nope__c/describe')
  t.same(unknown, { status: 404, headers: unknown.headers, body: [{ message: 'The requested resource does not exist', errorCode: 'NOT_FOUND' }] })
})

t.test('single-record CRUD, ids, system fields and errors', async (t) => {
  const sandbox = await startSandbox(t)
  const call = api(await connect(sandbox.url))
  const created = await call('POST', '/sobjects/Contact', { FirstName: 'Ada', LastName: 'Lovelace', Email: 'ada@example.com', Cohort_Points__c: 12 })
  t.equal(created.status, 201)
  t.same(Object.keys(created.body).sort(), ['errors', 'id', 'success'])
  const id = created.body.id as string
  t.match(id, /^0035g[a-zA-Z0-9]{13}$/, '18-char id with the Contact key prefix')

  const got = await call('GET', `/sobjects/Contact/${id}`)
  t.equal(got.status, 200)
  t.match(got.body, {
    attributes: { type: 'Contact', url: `/services/data/v62.0/sobjects/Contact/${id}` },
    Id: id, Name: 'Ada Lovelace', IsDeleted: false, Cohort_Opt_In__c: false, Cohort_Points__c: 12, Email: 'ada@example.com',
  })
  t.match(got.body.CreatedDate, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$/)
  t.match(got.body.SystemModstamp, /\+0000$/)
  t.match(got.body.LastModifiedDate, /\+0000$/)
  t.match(got.body.CreatedById, /^005/)
  t.equal(got.body.OwnerId, got.body.CreatedById)
  const short = await call('GET', `/sobjects/Contact/${id.slice(0, 15)}?fields=Id,Email`)
  t.same(short.body, { attributes: got.body.attributes, Id: id, Email: 'ada@example.com' }, '15-char ids and ?fields work')

  const lead = await call('POST', '/sobjects/Lead', { LastName: 'Hopper', Company: 'Navy' })
  t.match(lead.body.id, /^00Q/)
  t.match((await call('GET', `/sobjects/Lead/${lead.body.id}`)).body, { Status: 'Open - Not Contacted' })
  t.match((await call('POST', '/sobjects/Account', { Name: 'Acme' })).body.id, /^001/)
  const member = await call('POST', '/sobjects/Member__c', { Email__c: 'm@example.com' })
  t.match(member.body.id, /^a00/)
  t.equal((await call('GET', `/sobjects/Member__c/${member.body.id}`)).body.Name, member.body.id, 'custom Name defaults to the id')

  const updated = await call('PATCH', `/sobjects/Contact/${id}`, { Title: 'Countess', Email: null })
  t.equal(updated.status, 204)
  const after = (await call('GET', `/sobjects/Contact/${id}`)).body
  t.equal(after.Title, 'Countess')
  t.equal(after.Email, null)
  t.ok(after.SystemModstamp > got.body.SystemModstamp, 'SystemModstamp moves')

  t.same((await call('POST', '/sobjects/Contact', { FirstName: 'No' })).body,
    [{ message: 'Required fields are missing: [LastName]', errorCode: 'REQUIRED_FIELD_MISSING', fields: ['LastName'] }])
  t.same((await call('POST', '/sobjects/Lead', { LastName: 'X' })).body,
    [{ message: 'Required fields are missing: [Company]', errorCode: 'REQUIRED_FIELD_MISSING', fields: ['Company'] }])
  t.same((await call('PATCH', `/sobjects/Contact/${id}`, { Name: 'x' })).body, [{
    message: 'Unable to create/update fields: Name. Please check the security settings of this field and verify that it is read/write for your profile or permission set.',
    errorCode: 'INVALID_FIELD_FOR_INSERT_UPDATE', fields: ['Name'],
  }])
  const invalidField = await call('PATCH', `/sobjects/Contact/${id}`, { Nope__c: 1 })
  t.equal(invalidField.status, 400)
  t.same(invalidField.body, [{ message: "No such column 'Nope__c' on sobject of type Contact", errorCode: 'INVALID_FIELD' }])
  const long = await call('PATCH', `/sobjects/Contact/${id}`, { Cohort_User_Id__c: 'x'.repeat(65) })
  t.same(long.body, [{ message: `Cohort User Id: data value too large: ${'x'.repeat(65)} (max length=64)`, errorCode: 'STRING_TOO_LONG', fields: ['Cohort_User_Id__c'] }])
  const email = await call('PATCH', `/sobjects/Contact/${id}`, { Email: 'not-an-email' })
  t.same(email.body, [{ message: 'Email: invalid email address: not-an-email', errorCode: 'INVALID_EMAIL_ADDRESS', fields: ['Email'] }])
  const malformed = await call('GET', '/sobjects/Contact/abc')
  t.equal(malformed.status, 400)
  t.equal(malformed.body[0].errorCode, 'MALFORMED_ID')
  const wrongType = await call('PATCH', `/sobjects/Contact/${lead.body.id}`, { Title: 'x' })
  t.same(wrongType.body, [{ message: `Contact ID: id value of incorrect type: ${lead.body.id}`, errorCode: 'MALFORMED_ID', fields: ['Id'] }])
  const missing = await call('GET', '/sobjects/Contact/0035g0000000zzzAAA')
  t.equal(missing.status, 404)
  t.equal(missing.body[0].errorCode, 'NOT_FOUND')

  t.equal((await call('DELETE', `/sobjects/Contact/${id}`)).status, 204)
  const gone = await call('GET', `/sobjects/Contact/${id}`)
  t.equal(gone.status, 400)
  t.same(gone.body, [{ message: 'entity is deleted', errorCode: 'ENTITY_IS_DELETED', fields: [] }])
  t.equal((await call('PATCH', `/sobjects/Contact/${id}`, { Title: 'x' })).body[0].errorCode, 'ENTITY_IS_DELETED')
  const badJson = await fetch(`${sandbox.url}/services/data/v62.0/sobjects/Contact`, {
    method: 'POST', headers: { authorization: `Bearer ${(await connect(sandbox.url)).access_token}`, 'content-type': 'application/json' }, body: '{oops',
  })
  t.equal(badJson.status, 400)
  t.equal(((await badJson.json()) as { errorCode: string }[])[0]!.errorCode, 'JSON_PARSER_ERROR')
})

t.test('API calls are counted: Sforce-Limit-Info, /limits, stats by endpoint and client', async (t) => {
  const sandbox = await startSandbox(t, { dailyApiRequests: 5 })
  const tokens = await connect(sandbox.url)
  const call = api(tokens, 'cohort-bridge')
  const first = await call('GET', '/sobjects')
  t.equal(first.headers.get('sforce-limit-info'), 'api-usage=1/5')
  await call('GET', '/sobjects/Contact/describe')
  const conn = new jsforce.Connection({ instanceUrl: tokens.instance_url, accessToken: tokens.access_token, version: VERSION })
  const limits = await conn.limits()
  t.same(limits.DailyApiRequests, { Max: 5, Remaining: 2 })
  t.same(conn.limitInfo.apiUsage, { used: 3, limit: 5 })
  await call('GET', '/limits')
  await call('GET', '/limits')
  const over = await call('GET', '/limits')
  t.equal(over.status, 403)
  t.same(over.body, [{ message: 'TotalRequests Limit exceeded.', errorCode: 'REQUEST_LIMIT_EXCEEDED' }])
  await fetch(`${sandbox.url}/services/data`)
  await fetch(`${sandbox.url}/services/oauth2/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } })
  const stats = (await (await fetch(`${sandbox.url}/__sandbox/stats`)).json()) as Record<string, Record<string, unknown>>
  t.same(stats, {
    apiCalls: {
      total: 5,
      byEndpoint: { 'GET /sobjects': 1, 'GET /sobjects/Contact/describe': 1, 'GET /limits': 3 },
      byClient: { 'cohort-bridge': 4, '(none)': 1 },
    },
    cometd: { clients: 0, held: 0 },
    events: { published: 0 },
  })
})

t.test('answer-lost fault: the call is carried out, its connection closed unanswered', async (t) => {
  const sandbox = await startSandbox(t)
  const call = api(await connect(sandbox.url))
  const fault = await fetch(`${sandbox.url}/__sandbox/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'answer-lost', match: 'POST /services/data' }) })
  t.equal(fault.status, 201)
  await t.rejects(call('POST', '/sobjects/Contact', { LastName: 'Lost', Email: 'lost@example.com' }), { message: 'fetch failed' }, 'no answer')
  const found = await call('GET', `/query?q=${encodeURIComponent("SELECT Id FROM Contact WHERE Email = 'lost@example.com'")}`)
  t.equal(found.body.totalSize, 1, 'the record was created all the same')
  t.equal((await call('POST', '/sobjects/Contact', { LastName: 'Next' })).status, 201, 'the next call is answered')
})
