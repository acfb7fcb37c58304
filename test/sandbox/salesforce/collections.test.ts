/** sObject Collections of the Salesforce stand-in through jsforce and raw HTTP. */
import t from 'tap'
import jsforce from 'jsforce'
import { connect, startSandbox, type Tokens } from './login.ts'

const VERSION = '62.0'

function connOf(tokens: Tokens) {
  return new jsforce.Connection({ instanceUrl: tokens.instance_url, accessToken: tokens.access_token, version: VERSION, callOptions: { client: 'cohort-bridge' } })
}

async function raw(tokens: Tokens, method: string, path: string, body?: unknown) {
  const res = await fetch(`${tokens.instance_url}/services/data/v${VERSION}${path}`, {
    method, headers: { authorization: `Bearer ${tokens.access_token}`, 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined,
  })
  return { status: res.status, body: (await res.json()) as unknown }
}

t.test('create with per-record errors, then update, retrieve and delete', async (t) => {
  const sandbox = await startSandbox(t)
  const tokens = await connect(sandbox.url)
  const conn = connOf(tokens)
  const results = await conn.sobject('Contact').create([
    { LastName: 'Good', Email: 'good@example.com' },
    { FirstName: 'NoLast' },
    { LastName: 'Long', Cohort_User_Id__c: 'x'.repeat(65) },
    { LastName: 'Bad', Email: 'bad@' },
    { LastName: 'ReadOnly', Name: 'x' },
  ], { allOrNone: false })
  t.equal(results.length, 5)
  t.match(results[0], { success: true, errors: [] })
  t.match(results[0]!.id, /^003/)
  t.same(results[1], { success: false, errors: [{ statusCode: 'REQUIRED_FIELD_MISSING', message: 'Required fields are missing: [LastName]', fields: ['LastName'] }] })
  t.same(results[2], { success: false, errors: [{ statusCode: 'STRING_TOO_LONG', message: `Cohort User Id: data value too large: ${'x'.repeat(65)} (max length=64)`, fields: ['Cohort_User_Id__c'] }] })
  t.same(results[3], { success: false, errors: [{ statusCode: 'INVALID_EMAIL_ADDRESS', message: 'Email: invalid email address: bad@', fields: ['Email'] }] })
  t.equal((results[4] as unknown as { errors: { statusCode: string }[] }).errors[0]!.statusCode, 'INVALID_FIELD_FOR_INSERT_UPDATE')

  const leads = await conn.sobject('Lead').create([{ LastName: 'L' }, { Company: 'C' }])
  t.same(leads.map((r) => (r.success ? 'ok' : (r as unknown as { errors: { fields: string[] }[] }).errors[0]!.fields)), [['Company'], ['LastName']])

  const id = results[0]!.id!
  const deletedId = (await conn.sobject('Contact').create({ LastName: 'Doomed' })).id!
  await conn.sobject('Contact').destroy(deletedId)
  const updates = await conn.sobject('Contact').update([
    { Id: id, Title: 'CEO' },
    { Id: deletedId, Title: 'x' },
    { Id: 'not-an-id', Title: 'x' },
  ], { allOrNone: false })
  t.same(updates[0], { id, success: true, errors: [] })
  t.same(updates[1], { success: false, errors: [{ statusCode: 'ENTITY_IS_DELETED', message: 'entity is deleted', fields: [] }] })
  t.same(updates[2], { success: false, errors: [{ statusCode: 'MALFORMED_ID', message: 'Contact ID: id value of incorrect type: not-an-id', fields: ['Id'] }] })

  const fetched = await conn.sobject('Contact').retrieve([id, deletedId], { fields: ['Id', 'Title', 'Email'] })
  t.same(fetched, [{ attributes: { type: 'Contact', url: `/services/data/v62.0/sobjects/Contact/${id}` }, Id: id, Title: 'CEO', Email: 'good@example.com' }, null])
  const viaGet = await raw(tokens, 'GET', `/composite/sobjects/Contact?ids=${id}&fields=Id,Title`)
  t.same(viaGet.body, [{ attributes: { type: 'Contact', url: `/services/data/v62.0/sobjects/Contact/${id}` }, Id: id, Title: 'CEO' }])
  const badField = await raw(tokens, 'GET', `/composite/sobjects/Contact?ids=${id}&fields=Nope`)
  t.equal(badField.status, 400)

  const deleted = await raw(tokens, 'DELETE', `/composite/sobjects?ids=${id},${deletedId}`)
  t.same(deleted.body, [{ id, success: true, errors: [] }, { id: deletedId, success: false, errors: [{ statusCode: 'ENTITY_IS_DELETED', message: 'entity is deleted', fields: [] }] }])
})

t.test('allOrNone rolls everything back', async (t) => {
  const sandbox = await startSandbox(t)
  const tokens = await connect(sandbox.url)
  const res = await raw(tokens, 'POST', '/composite/sobjects', {
    allOrNone: true,
    records: [{ attributes: { type: 'Contact' }, LastName: 'Fine' }, { attributes: { type: 'Contact' }, FirstName: 'Broken' }],
  })
  t.equal(res.status, 200)
  t.same(res.body, [
    { success: false, errors: [{ statusCode: 'ALL_OR_NONE_OPERATION_ROLLED_BACK', message: 'Record rolled back because not all records were valid and the request was using AllOrNone header', fields: [] }] },
    { success: false, errors: [{ statusCode: 'REQUIRED_FIELD_MISSING', message: 'Required fields are missing: [LastName]', fields: ['LastName'] }] },
  ])
  const listed = (await (await fetch(`${sandbox.url}/__sandbox/records/Contact`)).json()) as { total: number }
  t.equal(listed.total, 0, 'nothing was written')
})

t.test('request-level errors: more than 200 records, unknown field, missing type', async (t) => {
  const sandbox = await startSandbox(t)
  const tokens = await connect(sandbox.url)
  const many = await raw(tokens, 'POST', '/composite/sobjects', { records: Array.from({ length: 201 }, () => ({ attributes: { type: 'Contact' }, LastName: 'x' })) })
  t.same(many, { status: 400, body: [{ message: 'record limit reached. cannot submit more than 200 records into this call', errorCode: 'EXCEEDED_ID_LIMIT' }] })
  const unknown = await raw(tokens, 'POST', '/composite/sobjects', { records: [{ attributes: { type: 'Contact' }, LastName: 'x', Nope__c: 1 }] })
  t.same(unknown, { status: 400, body: [{ message: "No such column 'Nope__c' on sobject of type Contact", errorCode: 'INVALID_FIELD' }] })
  const untyped = await raw(tokens, 'POST', '/composite/sobjects', { records: [{ LastName: 'x' }] })
  t.same(untyped.body, [{ success: false, errors: [{ statusCode: 'INVALID_TYPE', message: 'Must send a concrete entity type.', fields: [] }] }])
})
