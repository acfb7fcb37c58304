/**
 * Salesforce's special cases of the import, end to end on the real broker, both stand-ins over
 * HTTP and both store backends: gap events read the records again; an overflow event resyncs
 * the whole object (queryAll: deletes unlink) with the position kept; a replay id outside
 * retention subscribes to new events and resyncs only a window before the last event seen;
 * `resyncing` meanwhile, on the status topic, counted. The request is durable: a resync
 * stopped half-way resumes after a restart; a failed one is retried with backoff.
 */
import t from 'tap'
import { resyncCheckpointOf } from '../../src/cdc/resync.ts'
import { waitFor } from '../helpers/index.ts'
import { CONTACT_CHANNEL, IMPORT, seed, startResyncStack } from './resync-helpers.ts'

for (const backend of ['sqlite', 'postgres'] as const) {
  t.test(`${backend}: gap events: the records are read again by id and imported`, async (t) => {
    const r = await startResyncStack(t, { backend })
    await r.merchant.saveImport(IMPORT)
    await r.waitForCdc('streaming')
    await r.waitForRun(() => true, 'empty load completed')
    // Written without a change event, then announced by a gap event only.
    const [gapped] = await r.contacts.create([{ LastName: 'Gap', Email: 'gap@example.com', Title: 'from the gap' }], false)
    const gap = await r.sf('POST', '/events', { kind: 'gap', object: 'Contact', recordIds: [gapped], changeType: 'CREATE' })
    t.equal(gap.status, 201)
    await r.waitForTitle('gap@example.com', 'from the gap')
    await r.sf('POST', '/cdc', { object: 'Contact', enabled: false })
    await r.contacts.update(gapped!, { Title: 'changed silently' })
    await r.sf('POST', '/cdc', { object: 'Contact', enabled: true })
    await r.sf('POST', '/events', { kind: 'gap', object: 'Contact', recordIds: [gapped], changeType: 'UPDATE' })
    await r.waitForTitle('gap@example.com', 'changed silently')
    t.equal((await r.users.list()).length, 1, 'one user')
    t.equal(await r.metric('bridge_cdc_resyncs_total'), 0, 'a gap names its records: no resync')
    t.notOk(r.statuses().some((s) => s.state === 'resyncing'))
  })

  // PostgreSQL's variant reads through Bulk API 2.0 (queryAll job), SQLite's through REST queryAll.
  const bulk = backend === 'postgres'
  t.test(`${backend}: an overflow event: the whole object resynced with queryAll${bulk ? ' (Bulk API 2.0)' : ''}, the position kept, resyncing meanwhile; then a wildcard event`, async (t) => {
    const r = await startResyncStack(t, { backend, env: bulk ? { SALESFORCE_BULK_THRESHOLD: '5' } : {} })
    const ids = await r.contacts.create(seed(12, 'ov'), false)
    await r.merchant.saveImport(IMPORT)
    await r.waitForCdc('streaming')
    await r.waitForRun((run) => run.progress.processed === 12, 'first load of 12')
    await waitFor(async () => (await r.users.list()).length === 12, 30_000, '12 users')
    const linkedBefore = await r.stack.store.findLinkByRecord(r.merchantId, ids[3]!)
    t.ok(linkedBefore, 'linked by the load')

    // What a transaction of more than 100,000 changes leaves without events.
    await r.sf('POST', '/cdc', { object: 'Contact', enabled: false })
    await r.contacts.update(ids[0]!, { Title: 'overflowed update' })
    await r.contacts.remove(ids[3]!)
    await r.contacts.create([{ LastName: 'New', Email: 'ov-new@example.com', Title: 'overflowed create' }])
    await r.sf('POST', '/cdc', { object: 'Contact', enabled: true })
    const overflow = (await r.sf('POST', '/events', { kind: 'overflow', object: 'Contact' })).body.replayId as number

    await r.waitForTitle('ov0@example.com', 'overflowed update')
    await r.waitForTitle('ov-new@example.com', 'overflowed create')
    await waitFor(async () => (await r.stack.store.findLinkByRecord(r.merchantId, ids[3]!)) === null, 30_000, 'deleted record unlinked')
    const run = await r.waitForRun((x) => x.checkpoint?.resync, 'the resync run completed')
    t.match(run, { checkpoint: { resync: { from: null } }, progress: { reason: 'overflow', processed: 13 } }, 'everything read, the deleted record too')
    await r.waitForCdc('streaming')
    await waitFor(async () => ((await r.stack.store.getReplayId(r.merchantId, CONTACT_CHANNEL)) ?? 0) >= overflow, 10_000, 'checkpoint past the overflow event')
    t.equal(await r.stack.store.getCheckpoint(resyncCheckpointOf(r.merchantId)), null, 'the request is cleared once done')
    const states = r.statuses().map((s) => `${s.state}:${s.reason}`)
    t.ok(states.includes('resyncing:overflow'), `status topic: ${states.join(' ')}`)
    t.equal(states.at(-1), 'streaming:resynced')
    t.equal(await r.metric('bridge_cdc_resyncs_total', { reason: 'overflow' }), 1)
    t.equal(await r.metric('bridge_cdc_resyncs_ended_total', { outcome: 'completed' }), 1)
    t.equal((await r.users.list()).length, 13, 'no duplicate user')
    // Streaming goes on from the kept position.
    await r.contacts.update(ids[1]!, { Title: 'after the resync' })
    await r.waitForTitle('ov1@example.com', 'after the resync')
    if (bulk) t.ok(r.stack.logs.lines().some((l) => l.msg === 'reading through Bulk API 2.0' && l.merchantId === r.merchantId), 'read through Bulk API 2.0')

    // A wildcard record id (a custom field type conversion) names no record: everything again.
    await r.sf('POST', '/cdc', { object: 'Contact', enabled: false })
    await r.contacts.update(ids[2]!, { Title: 'converted' })
    await r.sf('POST', '/cdc', { object: 'Contact', enabled: true })
    const wildcard = await r.sf('POST', '/publish', { channel: CONTACT_CHANNEL, payload: {
      ChangeEventHeader: { entityName: 'Contact', recordIds: ['003*'], changeType: 'UPDATE', changeOrigin: '', transactionKey: 'tk-wildcard', sequenceNumber: 1, commitTimestamp: Date.now(), commitNumber: 1, commitUser: '005000000000001AAA', changedFields: ['Title'] },
    } })
    t.equal(wildcard.status, 201)
    await r.waitForTitle('ov2@example.com', 'converted')
    await r.waitForRun((x) => x.progress.reason === 'wildcard', 'the wildcard resync completed')
    t.equal(await r.metric('bridge_cdc_resyncs_total', { reason: 'wildcard' }), 1)
    await r.waitForCdc('streaming')
    t.ok(r.statuses().some((x) => x.state === 'resyncing' && x.reason === 'wildcard'))
  })

  t.test(`${backend}: a replay id outside retention: new events from now, a window resynced from the last event seen`, async (t) => {
    const r = await startResyncStack(t, { backend, env: { CDC_RESYNC_OVERLAP_MS: '0' } })
    const seededAt = new Date().toISOString()
    const ids = await r.contacts.create(seed(10, 'rt'), false)
    // The window is whole seconds: the last event must come in a later second than the seeds.
    await new Promise((resolve) => setTimeout(resolve, 1100))
    await r.merchant.saveImport(IMPORT)
    await r.waitForCdc('streaming')
    await r.waitForRun((run) => run.progress.processed === 10, 'first load of 10')
    await r.contacts.update(ids[0]!, { Title: 'streamed' })
    await r.waitForTitle('rt0@example.com', 'streamed')
    await waitFor(async () => (await r.stack.store.getSyncHealth(r.merchantId)).lastEventAt !== null, 10_000, 'last event noted')
    // Past the second of the last event: the window (whole seconds) starts after the seeds.
    await new Promise((resolve) => setTimeout(resolve, 1200))

    await r.stack.app.close()
    await r.contacts.update(ids[1]!, { Title: 'while down' })
    await r.contacts.remove(ids[2]!)
    await r.contacts.create([{ LastName: 'Down', Email: 'rt-down@example.com', Title: 'created while down' }])
    await r.sf('POST', '/faults', { kind: 'cometd-shrink-retention', retainEvents: 0 })
    // Its first attempt fails for good (the org's API allocation): the retry is still a window.
    await r.sf('POST', '/faults', { kind: 'request-limit-exceeded', count: 1, match: '/queryAll' })
    await r.stack.restart()

    await r.waitForTitle('rt1@example.com', 'while down')
    await r.waitForTitle('rt-down@example.com', 'created while down')
    await waitFor(async () => (await r.stack.store.findLinkByRecord(r.merchantId, ids[2]!)) === null, 30_000, 'deleted while down: unlinked')
    const run = await r.waitForRun((x) => x.checkpoint?.resync, 'the resync run completed')
    t.match(run, { checkpoint: { resync: { from: String }, loaded: true }, progress: { reason: 'replay-invalid' } })
    t.equal(await r.metric('bridge_cdc_resyncs_ended_total', { outcome: 'failed' }), 1, 'failed once, retried')
    const lastEventAt = (await r.stack.store.getSyncHealth(r.merchantId)).lastEventAt
    t.ok(run.progress.processed >= 3 && run.progress.processed < 11, `only the window was read (${run.progress.processed} records, not 11; from ${run.checkpoint.resync.from}, last event ${lastEventAt?.toISOString()}, seeded ${seededAt})`)
    await r.waitForCdc('streaming')
    t.ok(r.stack.logs.lines().some((l) => l.msg === 'stored replay id outside retention: subscribing to new events, a resync covers the gap' && l.level === 40), 'logged')
    t.equal(await r.metric('bridge_cdc_resyncs_total', { reason: 'replay-invalid' }), 1, 'counted')
    t.ok(r.statuses().some((s) => s.state === 'resyncing' && s.reason === 'replay-invalid'), 'on the status topic')
    // New events flow from the new position.
    await r.contacts.update(ids[4]!, { Title: 'after' })
    await r.waitForTitle('rt4@example.com', 'after')
  })

  t.test(`${backend}: a resync stopped half-way resumes after a restart; a failed one is retried with backoff`, async (t) => {
    const r = await startResyncStack(t, { backend })
    const ids = await r.contacts.create(seed(40, 'cr'), false)
    await r.merchant.saveImport(IMPORT)
    await r.waitForCdc('streaming')
    await r.waitForRun((run) => run.progress.processed === 40, 'first load of 40')
    await r.sf('POST', '/cdc', { object: 'Contact', enabled: false })
    for (const i of [0, 39]) await r.contacts.update(ids[i]!, { Title: `silent-${i}` })
    await r.sf('POST', '/cdc', { object: 'Contact', enabled: true })

    // Slow resync pages: stop the bridge after its first page (the engines stop one by one,
    // the subscriber last, so the rest must take longer than the others' stop).
    await r.sf('POST', '/faults', { kind: 'latency', latencyMs: 1000, count: 100, match: '/queryAll' })
    await r.sf('POST', '/events', { kind: 'overflow', object: 'Contact' })
    await waitFor(async () => {
      const run = await r.latestRun()
      return run?.checkpoint?.resync !== undefined && run.progress.processed >= 5
    }, 30_000, 'the resync read a page')
    await r.stack.app.close()
    const stopped = await r.latestRun()
    t.equal(stopped.status, 'running', 'stopped half-way')
    t.ok(stopped.progress.processed < 40, `read ${stopped.progress.processed} of 40`)
    t.match(await r.reader.getCheckpoint(resyncCheckpointOf(r.merchantId)), { from: null, reasons: ['overflow'] }, 'the request is still stored')
    await r.sf('DELETE', '/faults')
    await r.stack.restart()

    await r.waitForTitle('cr0@example.com', 'silent-0')
    await r.waitForTitle('cr39@example.com', 'silent-39')
    const resumed = await r.waitForRun((x) => x.checkpoint?.resync !== undefined, 'the resync completed')
    t.ok(r.stack.logs.lines().some((l) => l.msg === 'a resync asked for before the restart is still to do: it runs once subscribed'), 'resumed from the store')
    t.equal(resumed.id, stopped.id, 'the same run, taken over')
    t.equal(resumed.checkpoint.resync.id, stopped.checkpoint.resync.id, 'for the same request')
    t.equal(resumed.progress.processed, 40, 'continued after its last Id: nothing read twice')
    t.equal(await r.stack.store.getCheckpoint(resyncCheckpointOf(r.merchantId)), null, 'cleared once done')
    await r.waitForCdc('streaming')

    // A resync that fails for good (the org's API allocation, once) is retried with backoff.
    await r.sf('POST', '/cdc', { object: 'Contact', enabled: false })
    await r.contacts.update(ids[5]!, { Title: 'silent-again' })
    await r.sf('POST', '/cdc', { object: 'Contact', enabled: true })
    await r.sf('POST', '/faults', { kind: 'request-limit-exceeded', count: 1, match: '/queryAll' })
    await r.sf('POST', '/events', { kind: 'overflow', object: 'Contact' })
    await r.waitForTitle('cr5@example.com', 'silent-again')
    await r.waitForRun((x) => x.id !== resumed.id && x.checkpoint?.resync !== undefined, 'the retried resync completed')
    t.ok(r.stack.logs.lines().some((l) => l.msg === 'resync failed; retrying with backoff'), 'the failure was retried')
    t.equal(await r.metric('bridge_cdc_resyncs_ended_total', { outcome: 'failed' }), 1)
    t.equal(await r.metric('bridge_cdc_resyncs_ended_total', { outcome: 'completed' }), 2, 'the resumed one, and this one on its second attempt')
    await r.waitForCdc('streaming')
    t.equal((await r.users.list()).length, 40, 'no duplicate user')
  })
}
