/**
 * The done-criterion of the foundation, automated: a running app on its own throw-away broker
 * (scripts/kafka.sh with a private home and ports) is ready; stopping the broker turns
 * /readyz into 503 naming Kafka; starting it again turns it back to 200 without a restart.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { buildApp } from '../../src/app.ts'
import { createKafkaClient } from '../../src/kafka/index.ts'
import { createServices } from '../../src/services.ts'
import { createLogSink, freePort, testConfig, waitFor } from '../helpers/index.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

t.test('readyz follows the broker: 200, 503 naming kafka when it stops, 200 when it is back', async (t) => {
  const home = mkdtempSync(join(tmpdir(), 'bridge-broker-'))
  const env = { ...process.env, KAFKA_HOME_DIR: home, KAFKA_PORT: String(await freePort()), KAFKA_CONTROLLER_PORT: String(await freePort()), KAFKA_HEAP: '384m' }
  const broker = (command: string) => {
    const result = spawnSync('bash', ['scripts/kafka.sh', command], { cwd: ROOT, env, encoding: 'utf8' })
    if (result.status !== 0) throw new Error(`kafka.sh ${command} failed: ${result.stderr}`)
  }
  t.teardown(() => {
    broker('stop')
    rmSync(home, { recursive: true, force: true })
  })
  broker('start')

  const config = testConfig({ DATABASE_URL: `sqlite:${join(home, 'bridge.db')}`, KAFKA_BROKERS: `127.0.0.1:${env.KAFKA_PORT}` })
  const sink = createLogSink('silent')
  const kafka = createKafkaClient({ brokers: config.kafka.brokers, clientId: 'test-health', topics: [{ topic: 'probe', numPartitions: 1 }], logger: sink.logger })
  const services = createServices(config, { logger: sink.logger, kafka })
  await services.store.migrate()
  const app = await buildApp(services)
  t.teardown(() => app.close())
  await app.ready()

  const status = async () => {
    const res = await app.inject('/readyz')
    return { code: res.statusCode, body: res.json() }
  }
  t.equal((await status()).code, 200)

  broker('stop')
  const down = await status()
  t.equal(down.code, 503)
  t.same(down.body.failing, ['kafka'])
  t.equal(down.body.error.message, 'not ready: kafka')

  broker('start')
  await waitFor(async () => (await status()).code === 200, 30_000, 'readyz to recover')
  t.pass('ready again without a restart')
})
