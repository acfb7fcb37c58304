/**
 * The engine's decisions on the full stack: which merchants stream, and how health shows it.
 * CDC not enabled → `failed` with the administrator's action, no retry storm, a slow retry and
 * an immediate one on a settings save; import off, another object, disconnect and needs-reauth
 * stop or restart within seconds; a second instance on the same store waits in standby and
 * takes the stream over when the first one stops.
 */
import t from 'tap'
import { createCdcEngine } from '../../src/cdc/index.ts'
import { createServices } from '../../src/services.ts'
import { waitFor } from '../helpers/index.ts'
import { CONTACT_IMPORT, startCdcStack, type CdcStack } from './helpers.ts'

const cometdClients = async (cdc: CdcStack) => ((await cdc.sf('GET', '/stats')).body.cometd as { clients: number }).clients

t.test('CDC not enabled: failed with the action, no retries meanwhile; enabled and saved again → streaming', async (t) => {
  const cdc = await startCdcStack(t, { beforeImport: async (c) => void (await c.sf('POST', '/cdc', { object: 'Contact', enabled: false })) })
  await cdc.waitForHealth('failed')
  t.same((await cdc.health()).cdcError, {
    code: 'cdc.not-enabled',
    message: 'Change Data Capture is not enabled for Contact (Salesforce: 400::The channel you requested to subscribe to does not exist {/data/ContactChangeEvent})',
    action: 'In Setup › Change Data Capture, add Contact to the selected entities.',
  })
  t.same(cdc.engine().streams(), [{ merchantId: cdc.merchantId, state: 'failed' }])
  await waitFor(async () => (await cometdClients(cdc)) === 0, 5000, 'the client disconnected')
  await waitFor(() => cdc.statuses().some((s) => s.state === 'failed'), 10_000, 'status message')
  t.match(cdc.statuses().find((s) => s.state === 'failed'), { merchantId: cdc.merchantId, kind: 'cdc', state: 'failed', reason: 'cdc.not-enabled', at: String })

  await cdc.sf('POST', '/cdc', { object: 'Contact', enabled: true })
  t.equal((await cdc.health()).cdc, 'failed', 'the slow retry is not due (60 s here)')
  t.equal(await cometdClients(cdc), 0, 'nothing retried meanwhile')
  t.equal((await cdc.api('PUT', '/import', { ...CONTACT_IMPORT, fields: [{ field: 'Title' }, { field: 'Phone' }] })).status, 200)
  await cdc.waitForHealth('streaming', 5000)
  t.equal((await cdc.health()).cdcError, null)
  await cdc.createContacts('Enabled')
  await cdc.waitForChanges(1)
})

t.test('a custom object starts unselected; the slow retry (CDC_FAILED_RETRY_MS) picks up the fix by itself', async (t) => {
  const cdc = await startCdcStack(t, {
    env: { CDC_FAILED_RETRY_MS: '800' },
    importSettings: { enabled: true, object: 'Member__c', emailField: 'Email__c', mode: 'all', fields: [] },
  })
  await cdc.waitForHealth('failed')
  t.match((await cdc.health()).cdcError, { code: 'cdc.not-enabled', action: 'In Setup › Change Data Capture, add Member__c to the selected entities.' }, 'custom objects start unselected')
  await cdc.sf('POST', '/cdc', { object: 'Member__c', enabled: true })
  await cdc.waitForHealth('streaming', 5000)
  await cdc.sf('POST', '/records/Member__c', { records: [{ Name: 'M-1', Email__c: 'm1@example.com' }] })
  await cdc.waitForChanges(1)
  t.match(cdc.changes()[0]!.message, { object: 'Member__c', channel: '/data/Member__ChangeEvent', changeType: 'CREATE' })
})

t.test('import off stops within seconds; another object restarts on its channel', async (t) => {
  const cdc = await startCdcStack(t)
  await cdc.waitForHealth('streaming')
  t.equal((await cdc.api('PUT', '/import', { ...CONTACT_IMPORT, object: 'Lead' })).status, 200)
  await waitFor(async () => (await cdc.sf('POST', '/records/Lead', { records: [{ LastName: 'Probe', Company: 'Acme' }] }) && cdc.changes().some((c) => c.message.object === 'Lead')), 10_000, 'a Lead change')
  t.match(cdc.changes().find((c) => c.message.object === 'Lead')!.message, { channel: '/data/LeadChangeEvent' })

  const off = Date.now()
  t.equal((await cdc.api('PUT', '/import', { enabled: false })).status, 200)
  await cdc.waitForHealth('stopped', 5000)
  t.ok(Date.now() - off < 5000)
  t.same(await cdc.health(), { cdc: 'stopped', cdcError: null })
  t.same(cdc.engine().streams(), [])
  await waitFor(async () => (await cometdClients(cdc)) === 0, 5000, 'the CometD client gone')
  t.equal((await cdc.stack.store.getLease(`cdc:${cdc.merchantId}`))?.held, false, 'the lease released')
})

t.test('disconnect stops the stream before the tokens go', async (t) => {
  const cdc = await startCdcStack(t)
  await cdc.waitForHealth('streaming')
  const res = await cdc.stack.call('DELETE', `/v1/merchants/${cdc.merchantId}/salesforce`, { merchantId: cdc.merchantId })
  t.equal(res.status, 200, JSON.stringify(res.body))
  t.same(await cdc.health(), { cdc: 'stopped', cdcError: null }, 'stopped when the call returns')
  t.same(cdc.engine().streams(), [])
  t.equal(await cometdClients(cdc), 0)
})

t.test('refresh token revoked: the stream stops and shows needs-reauth with the action', async (t) => {
  const cdc = await startCdcStack(t)
  await cdc.waitForHealth('streaming')
  await cdc.sf('POST', '/faults', { kind: 'revoke-refresh-token' })
  await cdc.createContacts('Wakes the held connect')
  await cdc.waitForHealth('stopped')
  t.same((await cdc.health()).cdcError, {
    code: 'salesforce.needs-reauth',
    message: (await cdc.health()).cdcError!.message,
    action: 'Reconnect Salesforce from the Cohort dashboard (Apps › Salesforce › Connect).',
  })
  t.equal((await cdc.stack.store.getConnection(cdc.merchantId))!.state, 'needs-reauth')
  await waitFor(() => cdc.engine().streams().length === 0, 5000, 'the stream forgotten')
  await waitFor(() => cdc.statuses().some((s) => s.reason === 'salesforce.needs-reauth'), 10_000, 'status message')
  t.equal(await cometdClients(cdc), 0)
})

t.test('a second instance waits in standby and takes the stream over when the first stops', async (t) => {
  const cdc = await startCdcStack(t)
  await cdc.waitForHealth('streaming')
  await cdc.createContacts('Before')
  await cdc.waitForChanges(1)

  const other = createServices(cdc.stack.config, { logger: cdc.stack.logs.logger.child({ instance: 'b' }), clientId: 'test-stack-b' })
  const engineB = createCdcEngine(other, { owner: 'instance-b', replayPollMs: 300 })
  t.teardown(async () => {
    await engineB.stop()
    await other.stop()
  })
  await other.start()
  await engineB.start()
  await waitFor(() => engineB.streams().some((s) => s.state === 'standby'), 5000, 'standby')

  await cdc.stack.app.close()
  await waitFor(() => engineB.streams().some((s) => s.state === 'streaming'), 10_000, 'taken over')
  t.equal((await other.store.getLease(`cdc:${cdc.merchantId}`))?.owner, 'instance-b')
  await cdc.createContacts('After')
  await cdc.waitForChanges(2)
  t.ok(cdc.changes().some((c) => c.message.fields.LastName === 'After'), 'streamed by the second instance')
  t.equal(cdc.changes().length, 2, 'nothing sent twice across the handover')
})

t.test('the daily delivery allocation: paused with the reason, retried slowly, resumed from the checkpoint', async (t) => {
  const cdc = await startCdcStack(t, { env: { SALESFORCE_LIMITS_POLL_MS: '700' } })
  await cdc.waitForHealth('streaming')
  await cdc.createContacts('Before')
  await cdc.waitForChanges(1)
  await cdc.sf('POST', '/faults', { kind: 'cometd-exhaust-delivery' })
  await cdc.createContacts('During')
  await cdc.waitForHealth('paused')
  t.match((await cdc.health()).cdcError, { code: 'cdc.delivery-limit', message: /daily limit exceeded/, action: /resumes/ })
  t.same(cdc.engine().streams(), [{ merchantId: cdc.merchantId, state: 'paused' }])
  await cdc.sf('POST', '/streaming/restore')
  await cdc.waitForHealth('streaming', 5000)
  await cdc.waitForChanges(2)
  t.ok(cdc.changes().some((c) => c.message.fields.LastName === 'During'), 'what happened while paused arrives')
  t.equal(cdc.changes().length, 2)
  await waitFor(() => cdc.statuses().length >= 4, 10_000, 'four status messages')
  t.same(cdc.statuses().map((s) => s.state), ['starting', 'streaming', 'paused', 'streaming'], 'one per change of state')
})
