/**
 * The CDC selection (`POST /__sandbox/cdc`): standard objects selected by default, custom
 * ones not; a removed object's channel refuses subscribes with Salesforce's channel error,
 * publishes nothing (on its channel or `/data/ChangeEvents`), per org; reset restores it.
 */
import t from 'tap'
import { connect, ORG2_USER, startSandbox } from './login.ts'
import { admin, eventsOf, RawBayeux } from './streaming-helpers.ts'

const NO_CHANNEL = (channel: string) => `400::The channel you requested to subscribe to does not exist {${channel}}`

t.test('defaults, removal, the subscribe error, nothing published, per org, reset', async (t) => {
  const sandbox = await startSandbox(t, { streaming: { connectTimeoutMs: 300 } })
  const tokens = await connect(sandbox.url)
  const org2 = await connect(sandbox.url, ORG2_USER)

  t.same((await admin(sandbox.url, 'GET', '/cdc')).body, { org: 1, selected: ['Account', 'Contact', 'Lead'] }, 'standard objects only')
  const removed = await admin(sandbox.url, 'POST', '/cdc', { object: 'contact', enabled: false })
  t.same(removed, { status: 200, body: { org: 1, object: 'Contact', channel: '/data/ContactChangeEvent', enabled: false, selected: ['Account', 'Lead'] } })
  t.same((await admin(sandbox.url, 'GET', '/cdc?org=2')).body, { org: 2, selected: ['Account', 'Contact', 'Lead'] }, 'org 2 untouched')

  const client = new RawBayeux(sandbox.url, tokens.access_token)
  t.teardown(() => client.disconnect())
  t.same(await client.open('/data/ContactChangeEvent'), {
    channel: '/meta/subscribe', clientId: client.clientId, id: '3', subscription: '/data/ContactChangeEvent', successful: false,
    error: NO_CHANNEL('/data/ContactChangeEvent'),
  }, 'a removed object has no channel')
  t.match(await client.subscribe('/data/ChangeEvents'), { successful: true })

  const other = new RawBayeux(sandbox.url, org2.access_token)
  t.teardown(() => other.disconnect())
  t.match(await other.open('/data/ContactChangeEvent'), { successful: true }, 'still selected in org 2')

  await admin(sandbox.url, 'POST', '/records/Contact', { records: [{ LastName: 'Unseen' }] })
  await admin(sandbox.url, 'POST', '/records/Lead', { records: [{ LastName: 'Seen', Company: 'C' }] })
  const got = eventsOf(await client.connect())
  t.same(got.map((m) => m.data!.payload.ChangeEventHeader.entityName), ['Lead'], 'no Contact event on /data/ChangeEvents')
  t.match((await admin(sandbox.url, 'GET', '/stats')).body, { events: { published: 1 } })
  t.match(await admin(sandbox.url, 'POST', '/events', { kind: 'overflow', object: 'Contact' }), { status: 409, body: { error: { code: 'cdc-not-selected' } } })
  t.match(await admin(sandbox.url, 'POST', '/publish', { channel: '/data/ContactChangeEvent', payload: {} }), { status: 409 })

  await admin(sandbox.url, 'POST', '/records/Contact?org=2', { records: [{ LastName: 'Org two' }] })
  t.equal(eventsOf(await other.connect()).length, 1, 'org 2 still publishes Contact changes')

  // Custom objects start unselected; selecting one (per org, here through the body) opens its channel.
  t.match(await client.subscribe('/data/Member__ChangeEvent'), { successful: false, error: NO_CHANNEL('/data/Member__ChangeEvent') })
  t.match((await admin(sandbox.url, 'POST', '/cdc?org=2', { object: 'Member__c', enabled: true, org: 1 })).body, { org: 1, selected: ['Account', 'Lead', 'Member__c'] })
  t.match(await client.subscribe('/data/Member__ChangeEvent'), { successful: true })
  await admin(sandbox.url, 'POST', '/records/Member__c', { records: [{ Email__c: 'm@example.com' }] })
  t.same(eventsOf(await client.connect()).map((m) => m.channel).sort(), ['/data/ChangeEvents', '/data/Member__ChangeEvent'])

  t.match(await admin(sandbox.url, 'POST', '/cdc', { object: 'Nope__c', enabled: true }), { status: 404 })
  t.match(await admin(sandbox.url, 'POST', '/cdc', { object: 'Contact' }), { status: 400 })
  t.match(await admin(sandbox.url, 'POST', '/cdc', { object: 'Contact', enabled: true, org: 3 }), { status: 400 })

  // Selected again: the channel exists and events flow.
  await admin(sandbox.url, 'POST', '/cdc', { object: 'Contact', enabled: true })
  t.match(await client.subscribe('/data/ContactChangeEvent'), { successful: true })
  await admin(sandbox.url, 'POST', '/records/Contact', { records: [{ LastName: 'Seen again' }] })
  t.same(eventsOf(await client.connect()).map((m) => m.channel).sort(), ['/data/ChangeEvents', '/data/ContactChangeEvent'])

  await admin(sandbox.url, 'POST', '/cdc', { object: 'Lead', enabled: false })
  await admin(sandbox.url, 'POST', '/reset')
  t.same((await admin(sandbox.url, 'GET', '/cdc')).body, { org: 1, selected: ['Account', 'Contact', 'Lead'] }, 'reset restores the defaults')
})
