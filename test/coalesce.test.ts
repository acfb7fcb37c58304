/**
 * The coalesced writer: one write in flight, at most one per interval, always the newest value;
 * a failed write keeps its value for the next offer or flush; flush skips the interval.
 */
import t from 'tap'
import { createCoalescedWriter } from '../src/coalesce.ts'
import { waitFor } from './helpers/index.ts'

function gated() {
  const written: number[] = []
  let inFlight = 0
  let most = 0
  let release: (() => void) | null = null
  let fail = 0
  const write = async (value: number): Promise<boolean> => {
    inFlight++
    most = Math.max(most, inFlight)
    await new Promise<void>((resolve) => { release = resolve })
    inFlight--
    if (fail > 0) {
      fail--
      return false
    }
    written.push(value)
    return true
  }
  return { written, write, most: () => most, inFlight: () => inFlight, open: () => release?.(), failNext: (n: number) => { fail = n } }
}

t.test('offers while a write is in flight coalesce to the newest; never two writes at once', async (t) => {
  const g = gated()
  const writer = createCoalescedWriter(g.write, { intervalMs: 0 })
  writer.offer(1)
  for (let v = 2; v <= 50; v++) writer.offer(v)
  t.equal(writer.pending(), 50, 'the newest waits')
  g.open()
  await waitFor(() => g.written.length === 2 || writer.pending() === undefined, 2000, 'the second write to start')
  g.open()
  await writer.flush()
  t.same(g.written, [1, 50], 'the first, then only the newest')
  t.equal(g.most(), 1, 'one write in flight')
})

t.test('at most one write per interval; flush does not wait for it; discard drops the pending value', async (t) => {
  const written: number[] = []
  const writer = createCoalescedWriter(async (v: number) => {
    written.push(v)
    return true
  }, { intervalMs: 60_000 })
  writer.offer(1)
  await new Promise((r) => setImmediate(r))
  writer.offer(2)
  writer.offer(3)
  await new Promise((r) => setTimeout(r, 50))
  t.same(written, [1], 'the second waits for the interval')
  const started = Date.now()
  await writer.flush()
  t.ok(Date.now() - started < 1000, 'flush writes at once')
  t.same(written, [1, 3])
  writer.offer(4)
  writer.discard()
  await writer.flush()
  t.same(written, [1, 3], 'a discarded value is never written')
})

t.test('a failed write keeps its value (unless a newer one came) for the next flush or offer', async (t) => {
  const g = gated()
  const writer = createCoalescedWriter(g.write, { intervalMs: 0 })
  g.failNext(1)
  writer.offer(7)
  g.open()
  await waitFor(() => writer.pending() === 7, 2000, 'the value kept')
  const flushing = writer.flush()
  await waitFor(() => g.inFlight() === 1, 2000, 'the retry in flight')
  g.open()
  await flushing
  t.same(g.written, [7], 'written by the flush')

  g.failNext(1)
  writer.offer(8)
  writer.offer(9) // newer than the one in flight
  g.open()
  await waitFor(() => g.inFlight() === 0, 2000, 'the failed write to end')
  t.equal(writer.pending(), 9, 'the newer value waits, not the failed one')
  const again = writer.flush()
  await waitFor(() => g.inFlight() === 1, 2000, 'the flush in flight')
  g.open()
  await again
  t.same(g.written, [7, 9], 'the failed 8 is not brought back over the newer 9')
  t.equal(g.most(), 1, 'one write in flight throughout')
})
