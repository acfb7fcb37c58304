/**
 * The pipeline from queued events to Kafka and the checkpoint, with its seams given plain
 * functions: the checkpoint moves only after Kafka acknowledged, a failing produce is retried
 * in order and never skipped, duplicates after a resubscribe are dropped, overflow drops the
 * client until drained, a cdc-replay request empties the queue and moves the position back;
 * the checkpoint and last_event_at are saved off the produce path, coalesced to the newest.
 * (The same paths run end to end in stream.test.ts on real Kafka.)
 */
import t, { type Test } from 'tap'
import type { OutgoingMessage } from '../../src/kafka/index.ts'
import { createLogger } from '../../src/logger.ts'
import { createPipeline, type PipelineDeps, type PipelineOptions, type QueuedEvent } from '../../src/cdc/pipeline.ts'
import { waitFor } from '../helpers/index.ts'

const logger = createLogger({ level: 'silent' })
const metrics = { event: () => undefined, reconnect: () => undefined, resync: () => undefined, resyncEnded: () => undefined, stall: () => undefined, limitsProbe: () => undefined }
const event = (replayId: number, records = 1): QueuedEvent => ({
  replayId, receivedAt: Date.now(), messages: Array.from({ length: records }, (_, i) => ({ key: `m:r${replayId}-${i}`, value: String(replayId) })),
})

function harness(t: Test, overrides: Partial<PipelineDeps> = {}, checkpoint: number | null = null, options: Partial<PipelineOptions> = {}) {
  const produced: string[] = []
  const saved: { replayId: number; force: boolean }[] = []
  const calls: string[] = []
  let failing = 0
  let replay: number | null = null
  const deps: PipelineDeps = {
    async produce(messages: OutgoingMessage[]) {
      if (failing > 0) {
        failing--
        throw new Error('broker down')
      }
      produced.push(...messages.map((m) => m.key as string))
    },
    async saveCheckpoint(replayId, force) {
      saved.push({ replayId, force })
    },
    async noteEvent() {},
    async takeReplayRequest() {
      const r = replay
      replay = null
      return r
    },
    onResync: async (reason) => {
      calls.push(`resync:${reason}`)
    },
    onOverflow: () => calls.push('overflow'),
    onDrained: () => calls.push('drained'),
    onReplayRequest: (id) => calls.push(`replay:${id}`),
    onFenced: () => calls.push('fenced'),
    logger,
    metrics,
    ...overrides,
  }
  const pipeline = createPipeline(deps, { checkpoint, maxQueued: 10, batchMessages: 4, replayPollMs: 20, retryMinMs: 5, retryMaxMs: 20, ...options })
  const controller = new AbortController()
  const done = pipeline.run(controller.signal)
  t.teardown(async () => {
    controller.abort()
    await done
  })
  return { pipeline, produced, saved, calls, controller, done, fail: (n: number) => { failing = n }, requestReplay: (id: number) => { replay = id } }
}

t.test('checkpoint after the acknowledgement only; a failing produce is retried in order, never skipped', async (t) => {
  const h = harness(t)
  h.fail(3)
  for (const id of [10, 12, 15]) t.equal(h.pipeline.push(event(id)), 'queued')
  await waitFor(() => h.saved.length > 0, 5000, 'a checkpoint')
  t.same(h.produced, ['m:r10-0', 'm:r12-0', 'm:r15-0'], 'all of them, in order, after three failures')
  t.same(h.saved.at(-1), { replayId: 15, force: false })
  t.equal(h.pipeline.checkpoint(), 15)
})

t.test('batches hold whole events; a merged event is never split across a checkpoint', async (t) => {
  const h = harness(t)
  h.pipeline.push(event(1, 3))
  h.pipeline.push(event(2, 3))
  h.pipeline.push(event(3, 1))
  await waitFor(() => h.pipeline.checkpoint() === 3, 5000, 'checkpoint 3')
  t.same(h.saved.map((s) => s.replayId), [1, 3], 'a batch of 4 takes event 1 alone, then 2 and 3')
  t.equal(h.produced.length, 7)
})

t.test('duplicates after a resubscribe are dropped; a lost position accepts anything and forces the next save', async (t) => {
  const h = harness(t, {}, 100)
  t.equal(h.pipeline.push(event(99)), 'duplicate', 'before the checkpoint')
  t.equal(h.pipeline.push(event(100)), 'duplicate', 'the checkpoint itself')
  t.equal(h.pipeline.push(event(101)), 'queued')
  t.equal(h.pipeline.push(event(101)), 'duplicate', 'queued already')
  await waitFor(() => h.pipeline.checkpoint() === 101, 5000, 'checkpoint 101')
  h.pipeline.forgetPosition()
  t.equal(h.pipeline.checkpoint(), null, 'subscribe from -1')
  t.equal(h.pipeline.push(event(7)), 'queued', 'ids of a new window may be lower')
  await waitFor(() => h.pipeline.checkpoint() === 7, 5000, 'checkpoint 7')
  t.same(h.saved.at(-1), { replayId: 7, force: true })
})

t.test('overflow: past the bound events are dropped and the caller told; once drained it is told again', async (t) => {
  let release: () => void = () => undefined
  const gate = new Promise<void>((resolve) => { release = resolve })
  const h = harness(t, { produce: async () => gate })
  h.pipeline.push(event(1, 4))
  await new Promise((r) => setImmediate(r))
  await new Promise((r) => setImmediate(r))
  for (let id = 2; id <= 4; id++) h.pipeline.push(event(id, 4))
  t.same(h.calls, ['overflow'])
  t.equal(h.pipeline.push(event(5)), 'dropped', 'dropped until drained')
  release()
  await waitFor(() => h.calls.includes('drained'), 5000, 'drained')
  t.equal(h.pipeline.checkpoint(), 3, 'the last queued event; what was dropped comes again from there')
})

t.test('resync events: their turn comes after what was before them; a replay request empties the queue and moves back', async (t) => {
  const h = harness(t)
  h.pipeline.push(event(1))
  h.pipeline.push({ replayId: 2, receivedAt: Date.now(), messages: [], resync: 'overflow event' })
  await waitFor(() => h.pipeline.checkpoint() === 2, 5000, 'checkpoint 2')
  t.same(h.calls, ['resync:overflow event'])
  h.requestReplay(1)
  await waitFor(() => h.calls.includes('replay:1'), 5000, 'replay request taken')
  t.equal(h.pipeline.checkpoint(), 1)
  t.equal(h.pipeline.push(event(2)), 'queued', 'delivered again from the requested id')
})

t.test('a resync request that cannot be stored holds the checkpoint before its event until it is stored', async (t) => {
  let refusals = 3
  const stored: string[] = []
  const checkpoints: Array<{ replayId: number; refusalsLeft: number }> = []
  const h = harness(t, {
    async saveCheckpoint(replayId) {
      checkpoints.push({ replayId, refusalsLeft: refusals })
    },
    onResync: async (reason) => {
      if (refusals > 0) {
        refusals--
        throw new Error('store down')
      }
      stored.push(reason)
    },
  })
  h.pipeline.push(event(1))
  h.pipeline.push({ replayId: 2, receivedAt: Date.now(), messages: [], resync: 'overflow event' })
  await waitFor(() => checkpoints.some((c) => c.replayId === 2), 5000, 'checkpoint 2')
  t.same(stored, ['overflow event'], 'stored once, after three refusals')
  t.same(checkpoints.filter((c) => c.replayId >= 2).map((c) => c.refusalsLeft), [0], 'the checkpoint passed the event only once the request was stored')
  t.equal(h.pipeline.checkpoint(), 2)
})

t.test('stop waits for the in-flight produce and saves its checkpoint; a fenced save tells the stream', async (t) => {
  let release: () => void = () => undefined
  const gate = new Promise<void>((resolve) => { release = resolve })
  let producing = false
  const h = harness(t, { produce: async () => { producing = true; await gate } })
  h.pipeline.push(event(5))
  await waitFor(() => producing, 5000, 'in flight')
  h.controller.abort()
  let stopped = false
  void h.done.then(() => { stopped = true })
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r))
  t.notOk(stopped, 'still waiting for Kafka')
  release()
  await h.done
  t.same(h.saved, [{ replayId: 5, force: false }])

  const fenced = harness(t, { saveCheckpoint: async () => { throw Object.assign(new Error('fenced'), { code: 'store.fenced' }) } })
  fenced.pipeline.push(event(1))
  await waitFor(() => fenced.calls.includes('fenced'), 5000, 'fenced')
  t.equal(fenced.pipeline.checkpoint(), null)
})

t.test('the checkpoint is saved off the produce path: produces go on while a save waits; saves coalesce to the newest acknowledged id', async (t) => {
  let release: () => void = () => undefined
  const gate = new Promise<void>((resolve) => { release = resolve })
  const acked: number[] = []
  const saved: number[] = []
  const early: number[] = []
  const h = harness(t, {
    async produce(messages) {
      acked.push(...messages.map((m) => Number(m.value)))
    },
    async saveCheckpoint(replayId) {
      if (replayId > Math.max(...acked)) early.push(replayId)
      await gate
      saved.push(replayId)
    },
  }, null, { batchMessages: 1, saveIntervalMs: 0 })
  h.pipeline.push(event(1))
  await waitFor(() => acked.length === 1, 5000, 'the first produce')
  for (let id = 2; id <= 6; id++) h.pipeline.push(event(id))
  await waitFor(() => acked.length === 6, 5000, 'every produce while the first save waits')
  t.same(saved, [], 'no save finished yet')
  t.equal(h.pipeline.checkpoint(), null, 'checkpoint() is what is stored')
  release()
  await waitFor(() => h.pipeline.checkpoint() === 6, 5000, 'checkpoint 6')
  t.same(saved, [1, 6], 'the one in flight, then only the newest')
  t.same(early, [], 'never an id Kafka had not acknowledged')
})

t.test('last_event_at at most once per interval, the newest; lastEventAt() has it at once; stop saves the last of both', async (t) => {
  const notes: number[] = []
  const saved: number[] = []
  const h = harness(t, {
    async noteEvent(at) {
      notes.push(at.getTime())
    },
    async saveCheckpoint(replayId) {
      saved.push(replayId)
    },
  }, null, { batchMessages: 1, saveIntervalMs: 60_000, noteIntervalMs: 60_000 })
  const at = (id: number) => 1_000_000 + id
  for (let id = 1; id <= 5; id++) h.pipeline.push({ ...event(id), receivedAt: at(id) })
  await waitFor(() => h.pipeline.lastEventAt() === at(5), 5000, 'every event on Kafka')
  t.same(notes, [at(1)], 'one write in the interval')
  t.same(saved, [1], 'one checkpoint save in the interval')
  h.controller.abort()
  await h.done
  t.same(notes, [at(1), at(5)], 'the stop writes the newest')
  t.same(saved, [1, 5], 'and saves the newest checkpoint')
})

t.test('a cdc-replay request is taken only after the save in flight landed (no older save after its forced one)', async (t) => {
  let release: () => void = () => undefined
  const gate = new Promise<void>((resolve) => { release = resolve })
  const order: string[] = []
  let replay: number | null = null
  const h = harness(t, {
    async saveCheckpoint(replayId) {
      order.push(`save:${replayId}`)
      await gate
      order.push(`saved:${replayId}`)
    },
    async takeReplayRequest() {
      const r = replay
      replay = null
      if (r !== null) order.push(`take:${r}`)
      return r
    },
  }, null, { saveIntervalMs: 0 })
  h.pipeline.push(event(9))
  await waitFor(() => order.includes('save:9'), 5000, 'the save in flight')
  replay = 3
  await new Promise((r) => setTimeout(r, 100)) // several replay polls
  t.notOk(order.includes('take:3'), 'not taken while the save is in flight')
  release()
  await waitFor(() => h.calls.includes('replay:3'), 5000, 'the request taken')
  t.same(order, ['save:9', 'saved:9', 'take:3'])
  t.equal(h.pipeline.checkpoint(), 3)
})
