/**
 * A broker that is down when the service starts, and one that goes away while it runs, on a
 * throw-away broker of this test's own (scripts/kafka.sh with a private home and ports): the
 * client and a consumer start anyway, say `connecting`, and run once the broker is there;
 * after the broker restarts, the consumer is back by itself and consumes again.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { createKafkaClient } from '../../src/kafka/index.ts'
import { createLogSink, freePort, randomName, waitFor } from '../helpers/index.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

t.test('consumer started before the broker exists runs once it does, and survives a broker restart', async (t) => {
  const home = mkdtempSync(join(tmpdir(), 'bridge-kafka-test-'))
  const port = await freePort()
  const env = { ...process.env, KAFKA_HOME_DIR: home, KAFKA_PORT: String(port), KAFKA_CONTROLLER_PORT: String(await freePort()), KAFKA_HEAP: '384m' }
  const broker = (command: 'start' | 'stop') => {
    const result = spawnSync('bash', ['scripts/kafka.sh', command], { cwd: ROOT, env, encoding: 'utf8' })
    if (result.status !== 0) throw new Error(`kafka.sh ${command} failed: ${result.stderr}`)
  }
  t.teardown(() => {
    broker('stop')
    rmSync(home, { recursive: true, force: true })
  })

  const sink = createLogSink('info')
  const topic = 'changes'
  const kafka = createKafkaClient({ brokers: [`127.0.0.1:${port}`], clientId: randomName('test'), topics: [{ topic, numPartitions: 2 }], logger: sink.logger })
  t.teardown(() => kafka.stop())
  const values: string[] = []
  const consumer = kafka.createConsumer({
    groupId: randomName('test.group'),
    topics: [topic],
    fromBeginning: true,
    sessionTimeoutMs: 6_000,
    heartbeatIntervalMs: 1_000,
    restartMaxDelayMs: 2_000,
    handleBatch: async ({ batch }) => {
      for (const m of batch.messages) values.push(String(m.value))
    },
  })
  t.teardown(() => consumer.stop())

  const started = Date.now()
  await kafka.start()
  await consumer.start()
  t.ok(Date.now() - started < 5_000, `client and consumer started in ${Date.now() - started} ms with no broker`)
  t.match(kafka.health(), { connected: false, consumers: [{ state: 'connecting' }] })

  broker('start')
  await waitFor(() => kafka.isConnected(), 60_000, 'the client to connect in the background')
  await waitFor(() => kafka.health().consumers[0]?.state === 'running', 60_000, 'the consumer to run')
  await kafka.produce(topic, [{ key: 'a', value: 'first' }])
  await waitFor(() => values.includes('first'), 30_000, 'the first message')
  t.pass('consumed once the broker came up')

  broker('stop')
  await waitFor(() => kafka.health().consumers[0]?.state !== 'running', 60_000, 'the consumer to notice')
  t.pass(`without a broker the consumer is ${kafka.health().consumers[0]?.state}`)
  broker('start')
  await waitFor(() => kafka.health().consumers[0]?.state === 'running', 90_000, 'the consumer to run again')
  await waitFor(async () => kafka.produce(topic, [{ key: 'a', value: 'second' }]).then(() => true, () => false), 60_000, 'a produce to be acknowledged')
  await waitFor(() => values.includes('second'), 30_000, 'the message after the restart')
  t.pass('consumes again after the broker restart, without a restart of ours')
})
