/**
 * Cohort stand-in additions: the `lose-answer` fault (the batch is applied and its events are
 * on the real topic, then a 5xx is answered), the stand-in publishing through its own kafkajs
 * producer (never src/kafka), and its process starting without kafkajs's
 * `TimeoutNegativeWarning` (which plain kafkajs 2.2.4 prints on this Node).
 */
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Kafka, logLevel } from 'kafkajs'
import t, { type Test } from 'tap'
import { createCohortSandbox, type CohortSandbox } from '../../../sandbox/cohort/index.ts'
import { kafkaBrokers, randomName } from '../../helpers/index.ts'

const TOKEN = 'sandbox-cohort-token'
const ROOT = join(import.meta.dirname, '..', '..', '..')

async function start(t: Test, options: Parameters<typeof createCohortSandbox>[0] = {}): Promise<CohortSandbox> {
  const sandbox = createCohortSandbox({ port: 0, kafka: null, ...options })
  await sandbox.start()
  t.teardown(() => sandbox.stop())
  return sandbox
}

async function call(sandbox: CohortSandbox, method: string, path: string, body?: unknown) {
  const headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` }
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(`${sandbox.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  return { status: res.status, body: (await res.json()) as any }
}

async function eventsOnTopic(topic: string): Promise<number> {
  const admin = new Kafka({ clientId: 'test', brokers: kafkaBrokers, logLevel: logLevel.NOTHING }).admin()
  await admin.connect()
  try {
    return (await admin.fetchTopicOffsets(topic)).reduce((sum, p) => sum + Number(p.high), 0)
  } finally {
    await admin.disconnect()
  }
}

t.test('lose-answer: the batch is applied and published, then a 5xx is answered', async (t) => {
  const topic = randomName('test.cohort-events')
  const sandbox = await start(t, { kafka: { brokers: kafkaBrokers, topic, partitions: 1 } })
  const m = randomName('m')
  await call(sandbox, 'POST', '/__sandbox/merchants', { id: m })
  const added = await call(sandbox, 'POST', '/__sandbox/faults', { kind: 'lose-answer', match: '/users/batch' })
  t.match(added.body, { pending: [{ kind: 'lose-answer', status: 503, count: 1 }] })

  const batch = { source: 'salesforce', operations: [{ op: 'create', email: 'ada@example.com', properties: {} }, { op: 'create', email: 'bob@example.com', properties: {} }] }
  const lost = await call(sandbox, 'POST', `/internal/merchants/${m}/users/batch`, batch)
  t.same(lost, { status: 503, body: { code: 'unavailable', message: 'injected fault: the answer was lost after the call was carried out' } })
  t.match((await call(sandbox, 'GET', `/__sandbox/merchants/${m}/users`)).body, { total: 2 }, 'the write was applied')
  t.equal(await eventsOnTopic(topic), 2, 'and its events published')
  t.match((await call(sandbox, 'GET', '/__sandbox/stats')).body, { events: { published: 2 } })

  const retried = await call(sandbox, 'POST', `/internal/merchants/${m}/users/batch`, batch)
  t.same(retried.body.results.map((r: any) => r.code), ['user.already-exists', 'user.already-exists'], 'a blind retry meets its own writes')

  await call(sandbox, 'POST', '/__sandbox/faults', { kind: 'lose-answer', status: 504 })
  const lookup = await call(sandbox, 'POST', `/internal/merchants/${m}/users/lookup`, { emails: ['ada@example.com'] })
  t.match(lookup, { status: 504, body: { code: 'timeout' } })
  t.match(await call(sandbox, 'POST', '/__sandbox/faults', { kind: 'lose-answer', status: 418 }), { status: 417 })
})

t.test('the stand-in publishes with kafkajs directly, never through the bridge client', async (t) => {
  const dir = join(ROOT, 'sandbox', 'cohort')
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    t.notMatch(readFileSync(join(dir, file), 'utf8'), /from '[^']*src\/kafka/, `${file} does not import src/kafka`)
  }
  t.match(readFileSync(join(dir, 'kafka-producer.ts'), 'utf8'), /from 'kafkajs'/)
})

/** Run a module in a child Node process; returns its exit code and stderr. */
function runChild(source: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', source], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')))
    child.once('error', reject)
    child.once('exit', (code) => resolve({ code, stderr }))
  })
}

/** The stand-in with Kafka: start, publish once, stop. */
function standInChild(): string {
  const topic = randomName('test.cohort-events')
  return `
    import { createCohortSandbox } from ${JSON.stringify(join(ROOT, 'sandbox', 'cohort', 'index.ts'))}
    const sandbox = createCohortSandbox({ port: 0, kafka: { brokers: ${JSON.stringify(kafkaBrokers)}, topic: ${JSON.stringify(topic)}, partitions: 1 } })
    const url = await sandbox.start()
    const res = await fetch(url + '/__sandbox/merchants/m1/users', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ users: [{ email: 'a@example.com' }] }) })
    if (res.status !== 200) throw new Error('seeding answered ' + res.status)
    await sandbox.stop()
  `
}

/** A plain kafkajs producer that connects and disconnects: the control. */
const plainKafkajs = `
  import { Kafka, logLevel } from 'kafkajs'
  const producer = new Kafka({ clientId: 'control', brokers: ${JSON.stringify(kafkaBrokers)}, logLevel: logLevel.NOTHING }).producer()
  await producer.connect()
  await producer.disconnect()
`

t.test('no TimeoutNegativeWarning from a process running the stand-in with Kafka', async (t) => {
  const [standIn, control] = await Promise.all([runChild(standInChild()), runChild(plainKafkajs)])
  t.equal(standIn.code, 0, standIn.stderr)
  t.notMatch(standIn.stderr, /TimeoutNegativeWarning/, 'no warning from the stand-in')
  t.equal(control.code, 0, control.stderr)
  t.match(control.stderr, /TimeoutNegativeWarning/, 'plain kafkajs 2.2.4 prints it here, so the check can see it')
})
