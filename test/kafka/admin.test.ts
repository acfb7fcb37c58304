/**
 * Admin helpers on the real broker: end offsets, a group's offsets, moving them while the
 * group is empty (and refusing while it runs), lag, offsets by time, deleting topics.
 */
import t from 'tap'
import { randomName, waitFor } from '../helpers/index.ts'
import { collect, startTestClient } from './helpers.ts'

t.test('endOffsets, groupOffsets, groupLag answer the right numbers', async (t) => {
  const { kafka, topic } = await startTestClient(t)
  const name = await topic(2)
  await kafka.produce(name, [
    ...Array.from({ length: 5 }, (_, i) => ({ key: null, value: `a${i}`, partition: 0 })),
    ...Array.from({ length: 3 }, (_, i) => ({ key: null, value: `b${i}`, partition: 1 })),
  ])
  t.same(await kafka.endOffsets(name), [{ partition: 0, low: '0', high: '5' }, { partition: 1, low: '0', high: '3' }])

  const nobody = randomName('test.group')
  t.same(await kafka.groupOffsets(nobody, name), [{ partition: 0, offset: '-1' }, { partition: 1, offset: '-1' }], 'a group that never committed')
  t.same((await kafka.groupLag(nobody, name)).map((p) => p.lag), [5, 3])

  const { consumer, groupId, waitForCount } = collect(t, kafka, name)
  await consumer.start()
  await waitForCount(8)
  await consumer.stop()
  t.same(await kafka.groupOffsets(groupId, name), [{ partition: 0, offset: '5' }, { partition: 1, offset: '3' }])
  t.same(await kafka.groupLag(groupId, name), [{ partition: 0, committed: '5', end: '5', lag: 0 }, { partition: 1, committed: '3', end: '3', lag: 0 }])

  await t.rejects(kafka.endOffsets(randomName('test.kafka.missing')), { code: 'not-found' })
  await t.rejects(kafka.groupOffsets(groupId, randomName('test.kafka.missing')), { code: 'not-found' })
})

t.test('setGroupOffsets moves an empty group, which then re-reads from there; a running group is a conflict', async (t) => {
  const { kafka, topic } = await startTestClient(t)
  const name = await topic(1)
  await kafka.produce(name, Array.from({ length: 10 }, (_, i) => ({ key: 'k', value: String(i) })))
  const first = collect(t, kafka, name)
  await first.consumer.start()
  await first.waitForCount(10)

  await t.rejects(kafka.setGroupOffsets(first.groupId, name, [{ partition: 0, offset: '3' }]), { code: 'conflict' }, 'refused while a member runs')
  await first.consumer.stop()

  await kafka.setGroupOffsets(first.groupId, name, [{ partition: 0, offset: '3' }])
  t.same(await kafka.groupOffsets(first.groupId, name), [{ partition: 0, offset: '3' }])

  // The same group again: it starts at the offset that was set.
  const again = collect(t, kafka, name, { groupId: first.groupId })
  await again.consumer.start()
  await again.waitForCount(7)
  t.same(again.received.map((r) => r.value), ['3', '4', '5', '6', '7', '8', '9'], 'messages from offset 3 on, once each')

  await t.rejects(kafka.setGroupOffsets(first.groupId, name, [{ partition: 0, offset: '-4' }]), { code: 'request.invalid' })
})

t.test('offsetsAt finds the first message at or after a time; deleteTopics removes topics', async (t) => {
  const { kafka, topic } = await startTestClient(t)
  const name = await topic(1)
  const base = Date.now() - 60_000
  await kafka.produce(name, Array.from({ length: 6 }, (_, i) => ({ key: 'k', value: String(i), timestamp: String(base + i * 1_000) })))
  t.same(await kafka.offsetsAt(name, new Date(base + 2_500)), [{ partition: 0, offset: '3' }], 'the first message at or after the time')
  t.same(await kafka.offsetsAt(name, new Date(base - 1)), [{ partition: 0, offset: '0' }])

  await kafka.deleteTopics([name, randomName('test.kafka.never-existed')])
  await waitFor(async () => (await kafka.endOffsets(name).then(() => false, (err: { code?: string }) => err.code === 'not-found')), 15_000, 'the topic to be gone')
  t.pass('deleted; a missing one is skipped')
})
