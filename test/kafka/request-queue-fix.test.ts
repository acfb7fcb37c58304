/**
 * The kafkajs request-queue fix (src/kafka/request-queue-fix.ts): applied to kafkajs 2.2.4,
 * and a produce/consume round trip on Node 24 raises no TimeoutNegativeWarning
 * (tulios/kafkajs#1751) nor any other process warning.
 */
import { createRequire } from 'node:module'
import t from 'tap'
import { fixRequestQueue } from '../../src/kafka/request-queue-fix.ts'
import { collect, startTestClient } from './helpers.ts'

const require = createRequire(import.meta.url)

t.test('the fix is in place for this kafkajs version (a kafkajs upgrade must review it)', async (t) => {
  t.equal((require('kafkajs/package.json') as { version: string }).version, '2.2.4')
  t.equal(fixRequestQueue(), true)
})

t.test('a produce and consume round trip raises no process warning', async (t) => {
  const warnings: string[] = []
  const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`)
  process.on('warning', onWarning)
  t.teardown(() => {
    process.off('warning', onWarning)
  })
  const { kafka, topic } = await startTestClient(t)
  const name = await topic(2)
  await kafka.produce(name, Array.from({ length: 50 }, (_, i) => ({ key: `k${i}`, value: String(i) })))
  const { consumer, waitForCount } = collect(t, kafka, name)
  await consumer.start()
  await waitForCount(50)
  await consumer.stop()
  t.same(warnings, [], 'no warnings')
})
