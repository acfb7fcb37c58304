/**
 * The stream watched from outside CometD, end to end on both store backends: the stall check
 * (changes Salesforce has and the stream never delivered are resynced as a window and
 * counted, quiet streams are left alone), and the org allocations (paused with the reason,
 * `/limits` probed until the allocation is back, then streaming from the checkpoint, or a
 * resync when it fell out of retention meanwhile).
 */
import t from 'tap'
import { waitFor } from '../helpers/index.ts'
import { CONTACT_CHANNEL, IMPORT, seed, startResyncStack } from './resync-helpers.ts'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

for (const backend of ['sqlite', 'postgres'] as const) {
  t.test(`${backend}: a silent stream: the stall check resyncs the window it missed and counts a stall`, async (t) => {
    const r = await startResyncStack(t, { backend, env: { CDC_STALL_CHECK_MS: '700' }, engines: { cdc: { stallGraceMs: 400 } } })
    const ids = await r.contacts.create(seed(5, 'st'), false)
    await r.merchant.saveImport(IMPORT)
    await r.waitForCdc('streaming')
    await r.waitForRun((run) => run.progress.processed === 5, 'first load of 5')
    await sleep(2500)
    t.equal(await r.metric('bridge_cdc_stalls_total'), 0, 'no event yet, nothing changed since the subscribe: no stall')
    await r.contacts.update(ids[0]!, { Title: 'streamed' })
    await r.waitForTitle('st0@example.com', 'streamed')
    await sleep(2000)
    t.equal(await r.metric('bridge_cdc_stalls_total'), 0, 'everything delivered: no stall')

    // The stream goes silent (here: the object's CDC selection removed) while records change.
    await r.sf('POST', '/cdc', { object: 'Contact', enabled: false })
    await r.contacts.update(ids[1]!, { Title: 'never delivered' })
    await r.contacts.create([{ LastName: 'Silent', Email: 'st-new@example.com', Title: 'created silently' }])
    await r.waitForTitle('st1@example.com', 'never delivered')
    await r.waitForTitle('st-new@example.com', 'created silently')
    const run = await r.waitForRun((x) => x.checkpoint?.resync !== undefined, 'the stall resync completed')
    t.match(run, { checkpoint: { resync: { from: String } }, progress: { reason: 'stall' } }, 'a window, not everything')
    t.equal(await r.metric('bridge_cdc_stalls_total'), 1, 'one stall counted')
    t.equal(await r.metric('bridge_cdc_resyncs_total', { reason: 'stall' }), 1)
    await r.waitForCdc('streaming')
    t.ok(r.statuses().some((s) => s.state === 'resyncing' && s.reason === 'stall'), 'on the status topic')
    t.ok(r.stack.logs.lines().some((l) => l.msg === 'stall: Salesforce has changes the stream never delivered; resyncing that window'))
    await sleep(2500)
    t.equal(await r.metric('bridge_cdc_stalls_total'), 1, 'what the resync covered is not a stall again')
  })

  t.test(`${backend}: the delivery allocation: paused, /limits probed, resumed once back; a resync when the checkpoint fell out of retention`, async (t) => {
    const r = await startResyncStack(t, { backend, env: { SALESFORCE_LIMITS_POLL_MS: '400', CDC_RESYNC_OVERLAP_MS: '0' } })
    const ids = await r.contacts.create(seed(4, 'al'), false)
    await r.merchant.saveImport(IMPORT)
    await r.waitForCdc('streaming')
    await r.waitForRun((run) => run.progress.processed === 4, 'first load of 4')
    await r.contacts.update(ids[0]!, { Title: 'before' })
    await r.waitForTitle('al0@example.com', 'before')
    const checkpoint = await r.stack.store.getReplayId(r.merchantId, CONTACT_CHANNEL)

    await r.sf('POST', '/faults', { kind: 'cometd-exhaust-delivery' })
    await r.contacts.update(ids[1]!, { Title: 'while paused' })
    await r.waitForCdc('paused')
    t.match((await r.merchant.health()).cdcError, { code: 'cdc.delivery-limit', action: /Nothing is lost/ })
    await waitFor(async () => (await r.metric('bridge_cdc_limits_probes_total', { outcome: 'exhausted' })) >= 2, 10_000, '/limits probed while paused')
    t.equal((await r.merchant.health()).cdc, 'paused', 'still paused while /limits says the allocation is used up')
    t.equal(await r.stack.store.getReplayId(r.merchantId, CONTACT_CHANNEL), checkpoint, 'the checkpoint is kept')
    await r.contacts.update(ids[2]!, { Title: 'while paused too' })
    // The paused stream's events leave the replay window meanwhile.
    await r.sf('POST', '/faults', { kind: 'cometd-shrink-retention', retainEvents: 0 })
    await r.sf('POST', '/streaming/restore')

    await r.waitForTitle('al1@example.com', 'while paused')
    await r.waitForTitle('al2@example.com', 'while paused too')
    await r.waitForRun((x) => x.checkpoint?.resync !== undefined, 'the resync from the checkpoint completed')
    await r.waitForCdc('streaming')
    t.ok(await r.metric('bridge_cdc_limits_probes_total', { outcome: 'available' }) >= 1, 'resumed on the probe')
    const states = r.statuses().map((s) => `${s.state}:${s.reason}`)
    t.ok(states.includes('paused:cdc.delivery-limit') && states.indexOf('paused:cdc.delivery-limit') < states.indexOf('resyncing:replay-invalid'), `status topic: ${states.join(' ')}`)
    t.equal(states.at(-1), 'streaming:resynced')
    await r.contacts.update(ids[3]!, { Title: 'after' })
    await r.waitForTitle('al3@example.com', 'after')
  })

  t.test(`${backend}: the concurrent-client limit: paused with the reason, streaming again once a client slot is free`, async (t) => {
    const r = await startResyncStack(t, { backend, env: { SALESFORCE_LIMITS_POLL_MS: '300' } })
    const ids = await r.contacts.create(seed(2, 'cl'), false)
    await r.merchant.saveImport(IMPORT)
    await r.waitForCdc('streaming')
    await r.waitForRun((run) => run.progress.processed === 2, 'first load of 2')
    await r.sf('POST', '/faults', { kind: 'cometd-client-limit', count: 3 })
    await r.sf('POST', '/faults', { kind: 'cometd-drop-sessions' })
    await r.waitForCdc('paused')
    t.match((await r.merchant.health()).cdcError, { code: 'cdc.client-limit' })
    await r.contacts.update(ids[0]!, { Title: 'while refused' })
    await r.waitForCdc('streaming')
    await r.waitForTitle('cl0@example.com', 'while refused')
    t.ok(await r.metric('bridge_cdc_limits_probes_total', { outcome: 'available' }) >= 1, '/limits said a slot was free')
    const states = r.statuses().map((s) => `${s.state}:${s.reason}`)
    t.ok(states.includes('paused:cdc.client-limit'), states.join(' '))
  })
}
