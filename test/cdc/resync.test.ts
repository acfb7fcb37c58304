/**
 * The resync controller on a real store (SQLite file): requests merge into the widest window
 * and are stored under the lease before `request` resolves; a new controller (a restart)
 * loads and runs the stored one; runs wait until the stream is subscribed; a failure is
 * retried with backoff and its attempts stored; a request made while one runs is run next;
 * a stale lease cannot write. And the stall rule.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { createCdcMetrics } from '../../src/cdc/metrics.ts'
import { createResyncer, resyncCheckpointOf, type ResyncOrder, type ResyncerDeps } from '../../src/cdc/resync.ts'
import { stalledSince } from '../../src/cdc/watch.ts'
import { createStore, type LeaseFence, type Store } from '../../src/store/index.ts'
import { Registry } from 'prom-client'
import { createLogSink, waitFor } from '../helpers/index.ts'

async function setup(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'resync-'))
  const store: Store = createStore({ url: `sqlite:${join(dir, 'b.db')}` })
  await store.migrate()
  t.teardown(async () => {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })
  const grant = (await store.acquireLease('cdc:m1', 'me', 60_000))!
  const lease: LeaseFence = { name: grant.name, fence: grant.fence }
  const logs = createLogSink('info')
  const registry = new Registry()
  const metrics = createCdcMetrics(registry, () => [])
  const controller = new AbortController()
  t.teardown(() => controller.abort())
  const make = (run: ResyncerDeps['run'], events: string[] = []) => createResyncer({
    store, lease, merchantId: 'm1', log: logs.logger, metrics, run,
    onActive: (active, reason) => events.push(`${active ? 'active' : 'done'}:${reason}`),
    onFenced: () => events.push('fenced'),
    retryMinMs: 100, retryMaxMs: 200,
  })
  const stored = () => store.getCheckpoint(resyncCheckpointOf('m1')) as Promise<any>
  return { store, lease, make, stored, controller, registry }
}

t.test('requests merge into the widest window, stored before request resolves; done clears it', async (t) => {
  const { make, stored, controller } = await setup(t)
  const orders: ResyncOrder[] = []
  const events: string[] = []
  const resyncer = make(async (order) => void orders.push(order), events)
  await resyncer.load()
  await resyncer.request('stall', new Date('2026-01-01T10:00:00Z'))
  const first = await stored()
  t.match(first, { from: '2026-01-01T10:00:00.000Z', reasons: ['stall'], attempts: 0, id: String })
  await resyncer.request('replay-invalid', new Date('2026-01-01T09:00:00Z'))
  t.match(await stored(), { from: '2026-01-01T09:00:00.000Z', reasons: ['stall', 'replay-invalid'] }, 'the earlier start wins')
  t.not((await stored()).id, first.id, 'a merge is a new request')
  await resyncer.request('stall', new Date('2026-01-01T11:00:00Z'))
  t.equal((await stored()).from, '2026-01-01T09:00:00.000Z', 'a later start does not narrow it')
  t.same(orders, [], 'nothing runs before the stream is subscribed')
  const running = resyncer.run(controller.signal)
  resyncer.setReady(true)
  await waitFor(() => orders.length === 1, 5000, 'ran')
  t.match(orders[0], { from: new Date('2026-01-01T09:00:00Z'), reason: 'stall, replay-invalid' })
  await waitFor(async () => (await stored()) === null, 5000, 'cleared')
  t.equal(resyncer.active(), false)
  t.ok(resyncer.coveredUntil()! <= Date.now())
  await resyncer.request('overflow', null)
  await waitFor(() => orders.length === 2, 5000, 'ran again')
  t.equal(orders[1]!.from, null, 'everything')
  await waitFor(() => events.length === 4, 5000, 'done again')
  t.same(events, ['active:stall', 'done:stall, replay-invalid', 'active:overflow', 'done:overflow'])
  controller.abort()
  await running
})

t.test('a restart loads the stored request; a failure is retried with backoff and its attempts stored', async (t) => {
  const { make, stored, controller, registry } = await setup(t)
  await make(async () => undefined).request('overflow', null)
  let calls = 0
  const events: string[] = []
  const again = make(async () => {
    calls++
    if (calls < 3) throw new Error('Salesforce down')
  }, events)
  await again.load()
  t.equal(again.active(), true, 'loaded')
  t.same(events, ['active:overflow'])
  again.setReady(true)
  const running = again.run(controller.signal)
  await waitFor(() => calls === 2, 5000, 'retried')
  t.match(await stored(), { attempts: 2 }, 'attempts stored')
  await waitFor(async () => (await stored()) === null, 5000, 'done on the third attempt')
  t.equal(calls, 3)
  const text = await registry.metrics()
  t.match(text, /bridge_cdc_resyncs_ended_total\{outcome="failed"\} 2/)
  t.match(text, /bridge_cdc_resyncs_ended_total\{outcome="completed"\} 1/)
  controller.abort()
  await running
})

t.test('a request made while one runs is run next, not cleared by the first one finishing', async (t) => {
  const { make, stored, controller } = await setup(t)
  let release: () => void = () => undefined
  const orders: ResyncOrder[] = []
  const resyncer = make(async (order) => {
    orders.push(order)
    if (orders.length === 1) await new Promise<void>((resolve) => { release = resolve })
  })
  resyncer.setReady(true)
  const running = resyncer.run(controller.signal)
  await resyncer.request('stall', new Date('2026-01-01T10:00:00Z'))
  await waitFor(() => orders.length === 1, 5000, 'first runs')
  await resyncer.request('overflow', null)
  release()
  await waitFor(() => orders.length === 2, 5000, 'the newer one runs')
  t.match(orders[1], { from: null, reason: 'stall, overflow' })
  await waitFor(async () => (await stored()) === null, 5000, 'then cleared')
  controller.abort()
  await running
})

t.test('a stale lease cannot store a request', async (t) => {
  const { store, make } = await setup(t)
  const events: string[] = []
  const resyncer = make(async () => undefined, events)
  await store.releaseLease('cdc:m1', 'me')
  await store.acquireLease('cdc:m1', 'other', 60_000)
  await resyncer.request('overflow', null)
  t.ok(events.includes('fenced'))
  t.equal(await store.getCheckpoint(resyncCheckpointOf('m1')), null)
})

t.test('the stall rule: Salesforce changed after what the stream delivered and what the last resync read', async (t) => {
  t.equal(stalledSince({ newest: null, lastEventAt: 1000, coveredUntil: null, since: 0 }), null, 'no records')
  t.equal(stalledSince({ newest: 900, lastEventAt: 1000, coveredUntil: null, since: 0 }), null, 'delivered')
  t.equal(stalledSince({ newest: 1500, lastEventAt: 1000, coveredUntil: null, since: 0 }), 1000, 'a change after the last event')
  t.equal(stalledSince({ newest: 1500, lastEventAt: 1000, coveredUntil: 2000, since: 0 }), null, 'a resync read it')
  t.equal(stalledSince({ newest: 1500, lastEventAt: null, coveredUntil: null, since: 2000 }), null, 'no event yet: older than the subscribe')
  t.equal(stalledSince({ newest: 2500, lastEventAt: null, coveredUntil: null, since: 2000 }), 2000, 'no event yet, a change after the subscribe')
})
