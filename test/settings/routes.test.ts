/**
 * The settings API on the full local stack: objects and fields from the live describe (cached,
 * refreshed on demand), import and export saves with their refusals, Cohort properties made on
 * the fly, audit, CORS, access rules, OpenAPI.
 */
import t from 'tap'
import { connectMerchant } from '../helpers/merchant.ts'
import { DASHBOARD_ORIGIN, startStack, type Stack } from '../helpers/stack.ts'
import { randomName } from '../helpers/index.ts'

async function connected(t: Parameters<typeof startStack>[0]) {
  const stack = await startStack(t)
  const { merchantId, api } = await connectMerchant(stack)
  return { stack, merchantId, api }
}

const sfCalls = async (stack: Stack, endpoint: RegExp) => {
  const stats = (await (await fetch(`${stack.salesforce.url}/__sandbox/stats`)).json()) as { apiCalls: { byEndpoint: Record<string, number> } }
  return Object.entries(stats.apiCalls.byEndpoint).filter(([k]) => endpoint.test(k)).reduce((sum, [, n]) => sum + n, 0)
}

const cohortProperties = async (stack: Stack, merchantId: string) =>
  ((await (await fetch(`${stack.cohort.url}/internal/merchants/${merchantId}/user-properties`, { headers: { authorization: 'Bearer sandbox-cohort-token' } })).json()) as { data: { key: string; type: string }[] }).data

t.test('objects and fields come from the live describe, cached, refreshed on demand', async (t) => {
  const { stack, api } = await connected(t)
  const objects = await api('GET', '/objects')
  t.equal(objects.status, 200)
  const names = objects.body.objects.map((o: any) => o.name)
  for (const name of ['Contact', 'Lead', 'Member__c']) t.ok(names.includes(name), name)
  t.same(objects.body.objects.find((o: any) => o.name === 'Contact'), { name: 'Contact', label: 'Contact', custom: false, cdcChannel: '/data/ContactChangeEvent' })
  t.same(objects.body.objects.find((o: any) => o.name === 'Member__c').cdcChannel, '/data/Member__ChangeEvent')

  const fields = await api('GET', '/objects/Contact/fields')
  t.equal(fields.status, 200)
  const email = fields.body.fields.find((f: any) => f.name === 'Email')
  t.same(Object.keys(email).sort(), ['createable', 'defaultedOnCreate', 'emailCapable', 'label', 'length', 'name', 'nillable', 'readable', 'type', 'updateable'])
  t.match(email, { type: 'email', emailCapable: true, readable: true })
  t.match(fields.body.fields.find((f: any) => f.name === 'Cohort_User_Id__c'), { type: 'string', length: 64, updateable: true })

  const describes = await sfCalls(stack, /describe/)
  await api('GET', '/objects/Contact/fields')
  await api('GET', '/objects')
  t.equal(await sfCalls(stack, /describe/), describes, 'answered from the cache')
  await api('GET', '/objects/Contact/fields?refresh=true')
  t.equal(await sfCalls(stack, /describe/), describes + 1, 'refresh=true asks Salesforce again')

  t.match(await api('GET', '/objects/NoSuchThing__c/fields'), { status: 404, body: { error: { code: 'not-found' } } })
})

t.test('import: saved with Cohort properties created; refusals are 422 naming the field', async (t) => {
  const { stack, merchantId, api } = await connected(t)
  const saved = await api('PUT', '/import', { enabled: true, object: 'Contact', emailField: 'Email', mode: 'all', fields: [{ field: 'Title' }, { field: 'Loyalty_Tier__c' }, { field: 'Cohort_Points__c', property: 'points' }, { field: 'Birthdate' }] })
  t.equal(saved.status, 200, JSON.stringify(saved.body))
  t.same(saved.body.import, {
    enabled: true, object: 'Contact', emailField: 'Email', mode: 'all',
    fields: [{ field: 'Title', property: 'title', type: 'text' }, { field: 'Loyalty_Tier__c', property: 'loyalty_tier', type: 'text' }, { field: 'Cohort_Points__c', property: 'points', type: 'number' }, { field: 'Birthdate', property: 'birthdate', type: 'date' }],
  })
  const props = await cohortProperties(stack, merchantId)
  t.same(props.map((p) => `${p.key}:${p.type}`).sort(), ['birthdate:date', 'loyalty_tier:text', 'points:number', 'title:text'])

  t.match(await api('PUT', '/import', { enabled: true, object: 'Opportunity', emailField: 'Email' }), { status: 422, body: { error: { code: 'settings.invalid', field: 'object' } } })
  t.match(await api('PUT', '/import', { enabled: true, object: 'Contact', emailField: 'Birthdate' }), { status: 422, body: { error: { field: 'emailField' } } })
  t.match(await api('PUT', '/import', { enabled: true, object: 'Contact', emailField: 'Email', fields: [{ field: 'Nope__c' }] }), { status: 422, body: { error: { field: 'fields.0.field' } } })
  t.match(await api('PUT', '/import', { enabled: true, object: 'Contact', emailField: 'Email', fields: [{ field: 'Cohort_Points__c', property: 'title' }] }), { status: 422, body: { error: { field: 'fields.0.property', message: /title.*text, not number/ } } })
  t.match(await api('PUT', '/import', { enabled: 'yes' }), { status: 400, body: { error: { code: 'request.invalid', field: 'enabled' } } })

  const audit = await api('GET', '/audit')
  t.match(audit.body.data[0], { action: 'settings.import.updated', actor: `dashboard:${merchantId}` })
  t.equal(audit.body.data.filter((e: any) => e.action === 'settings.import.updated').length, 1, 'refused saves change nothing')
})

t.test('status health reads what the store knows: errors by code, replay checkpoint, parked changes, export pause', async (t) => {
  const { stack, merchantId, api } = await connected(t)
  t.equal((await api('PUT', '/import', { enabled: true, object: 'Contact', emailField: 'Email', fields: [] })).status, 200)
  const { store } = stack
  await store.recordError({ merchantId, direction: 'export', recordId: '003A', code: 'STRING_TOO_LONG', message: 'too long' })
  await store.recordError({ merchantId, direction: 'export', recordId: '003B', code: 'STRING_TOO_LONG', message: 'too long' })
  await store.recordError({ merchantId, direction: 'import', recordId: '003C', code: 'INVALID_EMAIL_ADDRESS', message: 'bad email' })
  const lease = await store.acquireLease(`cdc:${merchantId}`, 'test', 30_000)
  await store.saveReplayId(merchantId, '/data/ContactChangeEvent', 12345, { lease: { name: lease!.name, fence: lease!.fence } })
  await store.parkExportChanges(merchantId, [{ key: 'u_1', properties: { points: { value: 1, version: 1 } } }])
  const until = new Date(Date.now() + 3_600_000)
  await store.setExportPause(merchantId, { reason: 'salesforce.limit-exceeded', until })

  const { health } = (await api('GET', '')).body
  t.equal(health.errors, 3)
  t.same(health.errorsByCode, { STRING_TOO_LONG: 2, INVALID_EMAIL_ADDRESS: 1 })
  t.equal(health.replayId, '12345', 'the replay id of the import object, as a string')
  t.same(health.export, { state: 'paused', pauseReason: 'salesforce.limit-exceeded', pausedUntil: until.toISOString(), pending: 0, parked: 1 })
  t.same(health.load, { state: 'idle', processed: 0, total: null })
  t.equal(health.cdcError, null)
})

t.test('export: needs import; validated; turning import off turns it off', async (t) => {
  const { stack, merchantId, api } = await connected(t)
  const exportBody = { enabled: true, cohortUserIdField: 'Cohort_User_Id__c', mode: 'existing', mappings: [{ property: 'points', field: 'Cohort_Points__c' }] }
  t.match(await api('PUT', '/export', exportBody), { status: 409, body: { error: { code: 'import-required' } } })

  await api('PUT', '/import', { enabled: true, object: 'Contact', emailField: 'Email', mode: 'all', fields: [{ field: 'Cohort_Points__c', property: 'points' }] })
  const saved = await api('PUT', '/export', exportBody)
  t.equal(saved.status, 200, JSON.stringify(saved.body))
  t.match(saved.body.export, { enabled: true, cohortUserIdField: 'Cohort_User_Id__c', mode: 'existing', mappings: exportBody.mappings })

  t.match(await api('PUT', '/export', { ...exportBody, cohortUserIdField: 'Cohort_Points__c' }), { status: 422, body: { error: { field: 'cohortUserIdField' } } })
  t.match(await api('PUT', '/export', { ...exportBody, mappings: [{ property: 'ghost', field: 'Title' }] }), { status: 422, body: { error: { field: 'mappings.0.property' } } })
  t.match(await api('PUT', '/export', { ...exportBody, mappings: [{ property: 'points', field: 'Birthdate' }] }), { status: 422, body: { error: { field: 'mappings.0.field' } } })
  t.match(await api('PUT', '/export', { ...exportBody, mode: 'all', createDefaults: { LeadSource: 'Cohort' } }), { status: 200 })

  const off = await api('PUT', '/import', { enabled: false })
  t.equal(off.status, 200)
  t.equal(off.body.import.enabled, false)
  t.equal(off.body.export.enabled, false, 'import off turns export off')
  t.equal(off.body.import.object, 'Contact', 'the choices are kept for next time')
  const actions = (await api('GET', '/audit')).body.data.map((e: any) => e.action)
  t.same(actions.slice(0, 2), ['settings.export.updated', 'settings.import.updated'])
  t.equal((await stack.call('GET', `/v1/merchants/${merchantId}/salesforce`, { merchantId })).body.export.enabled, false)
})

t.test('access: no token 401, another merchant 403, ops allowed; not connected 409', async (t) => {
  const stack = await startStack(t)
  const merchantId = randomName('m')
  t.match(await stack.call('GET', `/v1/merchants/${merchantId}/salesforce`), { status: 401, body: { error: { code: 'auth.missing' } } })
  t.match(await stack.call('GET', `/v1/merchants/${merchantId}/salesforce`, { merchantId: 'other' }), { status: 403 })
  const ops = await stack.call('GET', `/v1/merchants/${merchantId}/salesforce`, { token: await stack.token({ role: 'ops' }) })
  t.equal(ops.status, 200)
  t.same(ops.body.connection, { state: 'not-connected' })
  t.same(Object.keys(ops.body.health).sort(), ['apiBudget', 'cdc', 'cdcError', 'errors', 'errorsByCode', 'export', 'exportBackfill', 'lastExportAt', 'lastImportAt', 'lastReconcile', 'load', 'pendingExport', 'replayId'])
  t.same(ops.body.health.export, { state: 'stopped', pauseReason: null, pausedUntil: null, pending: 0, parked: 0 })
  t.same(ops.body.health.apiBudget, { used: null, limit: null, orgUsed: null, orgMax: null })
  t.match(await stack.call('GET', `/v1/merchants/${merchantId}/salesforce/objects`, { merchantId }), { status: 409, body: { error: { code: 'salesforce.not-connected' } } })
  // Authentication comes before validation: an anonymous caller learns nothing about the rules.
  t.match(await stack.call('PUT', `/v1/merchants/${merchantId}/salesforce/import`, { body: { enabled: 'nope' } }), { status: 401 })
  t.match(await stack.call('PUT', `/v1/merchants/${merchantId}/salesforce/import`, { merchantId: 'other', body: { enabled: 'nope' } }), { status: 403 })
  const longId = 'm'.repeat(128)
  t.match(await stack.call('GET', `/v1/merchants/${longId}/salesforce`, { merchantId: longId }), { status: 200, body: { merchantId: longId } })
})

t.test('CORS allows the dashboard origin only; OpenAPI lists every route', async (t) => {
  const stack = await startStack(t)
  const preflight = (origin: string) => fetch(`${stack.url}/v1/merchants/m/salesforce/import`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'PUT', 'access-control-request-headers': 'authorization,content-type' } })
  const ok = await preflight(DASHBOARD_ORIGIN)
  t.equal(ok.headers.get('access-control-allow-origin'), DASHBOARD_ORIGIN)
  t.match(ok.headers.get('access-control-allow-methods'), /PUT/)
  const other = await preflight('https://evil.example.com')
  t.not(other.headers.get('access-control-allow-origin'), 'https://evil.example.com')

  const doc = await stack.call('GET', '/docs/json')
  t.equal(doc.status, 200)
  t.match(doc.body.openapi, /^3\./)
  for (const path of ['/healthz', '/readyz', '/oauth/salesforce/connect', '/oauth/salesforce/callback', '/v1/merchants/{merchantId}/salesforce', '/v1/merchants/{merchantId}/salesforce/objects', '/v1/merchants/{merchantId}/salesforce/objects/{object}/fields', '/v1/merchants/{merchantId}/salesforce/import', '/v1/merchants/{merchantId}/salesforce/export', '/v1/merchants/{merchantId}/salesforce/audit']) {
    t.ok(doc.body.paths[path], path)
  }
  t.ok(doc.body.paths['/v1/merchants/{merchantId}/salesforce/import'].put.requestBody, 'request bodies come from the zod schemas')
})
