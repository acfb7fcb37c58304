import t from 'tap'
import { createComponent, startAll, stopAll } from '../src/component.ts'

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

t.test('a start that fails half-way releases what it opened; it can be retried', async (t) => {
  let fail = true
  const { c, calls } = counting(async () => {
    if (fail) throw new Error('boom')
  })
  await t.rejects(c.start(), /boom/, 'the start error reaches the caller')
  t.equal(calls.stop, 1, 'the stop hook ran after the failed start')
  await c.stop()
  t.equal(calls.stop, 1, 'a stop after a failed start has nothing more to do')
  fail = false
  await c.start()
  t.equal(calls.start, 2)
  await c.stop()
  t.equal(calls.stop, 2)
})

t.test('a start failure whose release fails too reports both', async (t) => {
  const c = createComponent('c', {
    start: async () => {
      throw new Error('boom')
    },
    stop: async () => {
      throw new Error('release failed')
    },
  })
  const err = (await c.start().catch((e: unknown) => e)) as AggregateError
  t.ok(err instanceof AggregateError)
  t.same(err.errors.map((e: Error) => e.message), ['boom', 'release failed'])
})

t.test('startAll stops what it started when a later component fails', async (t) => {
  const order: string[] = []
  const part = (name: string, failStart = false) => createComponent(name, {
    start: async () => {
      if (failStart) throw new Error(`${name} failed`)
      order.push(`start ${name}`)
    },
    stop: async () => {
      order.push(`stop ${name}`)
    },
  })
  await t.rejects(startAll([part('a'), part('b'), part('c', true), part('d')]), /c failed/)
  t.same(order, ['start a', 'start b', 'stop c', 'stop b', 'stop a'], 'a and b released in reverse; d never started')

  order.length = 0
  const failingStop = createComponent('x', { start: async () => undefined, stop: async () => { throw new Error('x stop') } })
  const y = part('y')
  await startAll([failingStop, y])
  await stopAll([failingStop, y])
  t.same(order, ['start y', 'stop y'], 'stopAll goes on after a failing stop')
})
