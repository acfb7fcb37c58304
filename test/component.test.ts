import t from 'tap'
import { createComponent } from '../src/component.ts'

function counting(startImpl: () => Promise<void> = async () => undefined) {
  const calls = { start: 0, stop: 0 }
  const c = createComponent('c', {
    start: async () => {
      calls.start++
      await startImpl()
    },
    stop: async () => {
      calls.stop++
    },
  })
  return { c, calls }
}

t.test('start and stop are idempotent and share in-flight work', async (t) => {
  const { c, calls } = counting(() => new Promise((r) => setTimeout(r, 10)))
  await Promise.all([c.start(), c.start(), c.start()])
  t.equal(calls.start, 1)
  await Promise.all([c.stop(), c.stop()])
  await c.stop()
  t.equal(calls.stop, 1)
  await c.start()
  t.equal(calls.start, 2, 'can start again after a stop')
  await c.stop()
})

t.test('a stop during a start waits for it, then undoes it', async (t) => {
  const order: string[] = []
  const c = createComponent('c', {
    start: async () => {
      await new Promise((r) => setTimeout(r, 10))
      order.push('started')
    },
    stop: async () => {
      order.push('stopped')
    },
  })
  const started = c.start()
  const stopped = c.stop()
  await Promise.all([started, stopped])
  t.same(order, ['started', 'stopped'])
})

t.test('a failed start can be retried and stop after it is harmless', async (t) => {
  let fail = true
  const { c, calls } = counting(async () => {
    if (fail) throw new Error('boom')
  })
  await t.rejects(c.start(), /boom/)
  await c.stop()
  t.equal(calls.stop, 0, 'nothing to stop after a failed start')
  fail = false
  await c.start()
  t.equal(calls.start, 2)
  await c.stop()
  t.equal(calls.stop, 1)
})
