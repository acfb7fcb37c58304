/**
 * The `record-error` fault in sObject Collections: `count` records fail with the chosen
 * status code in Salesforce's per-record shape, the others succeed; with `allOrNone` the whole
 * request rolls back; `where` picks records; other calls leave the fault alone.
 */
import t from 'tap'
import jsforce from 'jsforce'
import { connect, startSandbox, type Tokens } from './login.ts'
import { admin } from './streaming-helpers.ts'

const VERSION = '62.0'

async function raw(tokens: Tokens, method: string, path: string, body?: unknown) {
  const res = await fetch(`${tokens.instance_url}/services/data/v${VERSION}${path}`, {
    method, headers: { authorization: `Bearer ${tokens.access_token}`, 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined,
  })
  return { status: res.status, body: (await res.json()) as Record<string, unknown>[] }
}

const contacts = (names: string[]) => ({ allOrNone: false, records: names.map((n) => ({ attributes: { type: 'Contact' }, LastName: n, Email: `${n.toLowerCase()}@example.com` })) })

t.test('count records fail with the code, the others succeed; the fault counts records across calls', async (t) => {
  const sandbox = await startSandbox(t)
  const tokens = await connect(sandbox.url)
  const added = await admin(sandbox.url, 'POST', '/faults', { kind: 'record-error', errorCode: 'DUPLICATES_DETECTED', count: 3 })
  t.match(added, { status: 201, body: { queued: true, fault: { kind: 'record-error', count: 3 } } })

  t.equal((await raw(tokens, 'GET', '/limits')).status, 200, 'other calls do not use it up')
  t.equal((await raw(tokens, 'POST', '/sobjects/Contact', { LastName: 'Single' })).status, 201, 'single-record calls neither')

  const first = await raw(tokens, 'POST', '/composite/sobjects', { allOrNone: false, records: [
    { attributes: { type: 'Contact' }, LastName: 'A' },
    { attributes: { type: 'Contact' }, FirstName: 'No last name' },
    { attributes: { type: 'Contact' }, LastName: 'B' },
  ] })
  t.equal(first.status, 200)
  t.same(first.body[0], { id: null, success: false, errors: [{ statusCode: 'DUPLICATES_DETECTED', message: 'Use one of these records?', fields: [] }] })
  t.match(first.body[1], { success: false, errors: [{ statusCode: 'REQUIRED_FIELD_MISSING' }] }, 'a record failing on its own is not counted')
  t.same(first.body[2], first.body[0])
  t.match((await admin(sandbox.url, 'GET', '/faults')).body, { faults: [{ kind: 'record-error', count: 1 }] }, 'two of three used')

  const second = await raw(tokens, 'POST', '/composite/sobjects', contacts(['C', 'D', 'E']))
  t.same(second.body.map((r) => r.success), [false, true, true])
  t.match(second.body[1], { id: /^003/, success: true, errors: [] })
  t.same((await admin(sandbox.url, 'GET', '/faults')).body, { faults: [] }, 'used up')
  t.match((await admin(sandbox.url, 'GET', '/records/Contact')).body, { total: 3 }, 'Single, D and E were written')
})

t.test('allOrNone rolls the whole request back; update and delete; message, fields and where', async (t) => {
  const sandbox = await startSandbox(t)
  const tokens = await connect(sandbox.url)
  await admin(sandbox.url, 'POST', '/faults', { kind: 'record-error', errorCode: 'UNABLE_TO_LOCK_ROW' })
  const rolled = await raw(tokens, 'POST', '/composite/sobjects', { ...contacts(['A', 'B', 'C']), allOrNone: true })
  t.same(rolled.body, [
    { id: null, success: false, errors: [{ statusCode: 'UNABLE_TO_LOCK_ROW', message: 'unable to obtain exclusive access to this record or 1 records', fields: [] }] },
    { success: false, errors: [{ statusCode: 'ALL_OR_NONE_OPERATION_ROLLED_BACK', message: 'Record rolled back because not all records were valid and the request was using AllOrNone header', fields: [] }] },
    { success: false, errors: [{ statusCode: 'ALL_OR_NONE_OPERATION_ROLLED_BACK', message: 'Record rolled back because not all records were valid and the request was using AllOrNone header', fields: [] }] },
  ])
  t.match((await admin(sandbox.url, 'GET', '/records/Contact')).body, { total: 0 }, 'nothing written')
  t.match((await admin(sandbox.url, 'GET', '/stats')).body, { events: { published: 0 } }, 'no change event')

  const created = await raw(tokens, 'POST', '/composite/sobjects', contacts(['Ada', 'Bob', 'Cy']))
  const ids = created.body.map((r) => r.id as string)
  await admin(sandbox.url, 'POST', '/faults', {
    kind: 'record-error', errorCode: 'FIELD_CUSTOM_VALIDATION_EXCEPTION', count: 10,
    message: 'Points must not go down', fields: ['Cohort_Points__c'], where: { email: 'BOB@example.com' },
  })
  const updated = await raw(tokens, 'PATCH', '/composite/sobjects', { allOrNone: false, records: ids.map((id, i) => ({
    attributes: { type: 'Contact' }, id, Email: ['ada@example.com', 'bob@example.com', 'cy@example.com'][i], Cohort_Points__c: 5,
  })) })
  t.same(updated.body.map((r) => r.success), [true, false, true], 'only the record where matched')
  t.same(updated.body[1], { id: null, success: false, errors: [{ statusCode: 'FIELD_CUSTOM_VALIDATION_EXCEPTION', message: 'Points must not go down', fields: ['Cohort_Points__c'] }] })
  t.match((await admin(sandbox.url, 'GET', '/faults')).body, { faults: [{ count: 9 }] })
  await admin(sandbox.url, 'DELETE', '/faults')

  await admin(sandbox.url, 'POST', '/faults', { kind: 'record-error', errorCode: 'ENTITY_IS_DELETED', where: { Id: ids[2] } })
  const deleted = await raw(tokens, 'DELETE', `/composite/sobjects?ids=${ids.join(',')}&allOrNone=false`)
  t.same(deleted.body.map((r) => [r.id, r.success]), [[ids[0], true], [ids[1], true], [ids[2], false]], 'a delete keeps its id')
  t.match(deleted.body[2], { errors: [{ statusCode: 'ENTITY_IS_DELETED', message: 'entity is deleted' }] })

  t.match(await admin(sandbox.url, 'POST', '/faults', { kind: 'record-error' }), { status: 400, body: { error: { message: /errorCode/ } } })
  t.match(await admin(sandbox.url, 'POST', '/faults', { kind: 'record-error', errorCode: 'lower case' }), { status: 400 })
})

t.test('jsforce sees the per-record error', async (t) => {
  const sandbox = await startSandbox(t)
  const tokens = await connect(sandbox.url)
  const conn = new jsforce.Connection({ instanceUrl: tokens.instance_url, accessToken: tokens.access_token, version: VERSION })
  sandbox.addFault({ kind: 'record-error', errorCode: 'DUPLICATES_DETECTED' })
  const results = await conn.sobject('Contact').create([{ LastName: 'One' }, { LastName: 'Two' }], { allOrNone: false })
  t.match(results, [
    { success: false, errors: [{ statusCode: 'DUPLICATES_DETECTED', message: 'Use one of these records?' }] },
    { success: true, id: /^003/ },
  ])
})
