/** Splitting work into calls: chunks, and calls a few at a time that stop on a failure. */
import t from 'tap'
import { chunks, mapConcurrently } from '../src/batches.ts'

t.test('chunks: consecutive slices of at most the size', async (t) => {
  t.same(chunks([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]])
  t.same(chunks([], 3), [])
  t.same(chunks([1, 2], 5), [[1, 2]])
})

/** A call that waits until released, recording how many are in flight. */
function gate() {
  let inFlight = 0
  let most = 0
  const started: number[] = []
  const waiting = new Map<number, { resolve: (v: string) => void; reject: (e: Error) => void }>()
  const fn = (item: number) => {
    started.push(item)
    most = Math.max(most, ++inFlight)
    return new Promise<string>((resolve, reject) => waiting.set(item, { resolve, reject })).finally(() => inFlight--)
  }
  const settle = async (item: number, error?: Error) => {
    for (let i = 0; i < 100 && !waiting.has(item); i++) await new Promise((r) => setImmediate(r))
    const w = waiting.get(item)
    if (!w) throw new Error(`call ${item} never started`)
    waiting.delete(item)
    if (error) w.reject(error)
    else w.resolve(`r${item}`)
  }
  return { fn, settle, started, most: () => most, inFlight: () => inFlight }
}

t.test('mapConcurrently: at most `limit` in flight, results in the order of the items', async (t) => {
  const g = gate()
  const running = mapConcurrently([0, 1, 2, 3, 4, 5], 4, g.fn)
  await g.settle(2)
  await g.settle(0)
  await g.settle(4)
  await g.settle(5)
  await g.settle(1)
  await g.settle(3)
  t.same(await running, ['r0', 'r1', 'r2', 'r3', 'r4', 'r5'])
  t.equal(g.most(), 4)
  t.same(await mapConcurrently([], 4, g.fn), [])
})

t.test('mapConcurrently: after a failure nothing new starts; the calls in flight settle before it is thrown', async (t) => {
  const g = gate()
  let done = false
  const running = mapConcurrently([0, 1, 2, 3, 4, 5], 2, g.fn).finally(() => (done = true))
  await g.settle(0, new Error('boom'))
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r))
  t.same(g.started, [0, 1], 'no call started after the failure')
  t.notOk(done, 'not thrown while call 1 is in flight')
  await g.settle(1)
  await t.rejects(running, { message: 'boom' })
  t.equal(g.inFlight(), 0)
})
