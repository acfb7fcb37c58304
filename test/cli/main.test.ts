/**
 * The real `salesforce-bridge` executable in child processes: exit codes, one-line errors,
 * migrate, status on a missing / empty / migrated store, and serve with a graceful SIGTERM.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { kafkaBrokers, randomName, waitFor } from '../helpers/index.ts'

const BIN = fileURLToPath(new URL('../../bin/salesforce-bridge.js', import.meta.url))

interface Result {
  code: number | null
  stdout: string
  stderr: string
}

function cli(args: string[], env: Record<string, string>): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    child.once('close', (code) => resolve({ code, stdout, stderr }))
  })
}

function tempDir(t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'bridge-cli-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

const baseEnv = { NODE_ENV: 'test', LOG_LEVEL: 'silent', KAFKA_BROKERS: kafkaBrokers.join(',') }

t.test('usage, unknown commands and bad configuration: one line, non-zero', async (t) => {
  const help = await cli(['--help'], baseEnv)
  t.equal(help.code, 0)
  t.match(help.stdout, /usage: salesforce-bridge <command>/)

  const unknown = await cli(['frobnicate'], baseEnv)
  t.equal(unknown.code, 1)
  t.equal(unknown.stderr, 'salesforce-bridge: unknown command "frobnicate" (see salesforce-bridge --help)\n')

  const badFlag = await cli(['status', '--nope'], baseEnv)
  t.equal(badFlag.code, 1)
  t.equal(badFlag.stderr.trim().split('\n').length, 1)

  const badConfig = await cli(['migrate'], { ...baseEnv, PORT: 'x', DATABASE_URL: 'mysql://db' })
  t.equal(badConfig.code, 1)
  t.match(badConfig.stderr, /^salesforce-bridge: invalid configuration: .*PORT: .*DATABASE_URL: /)
  t.equal(badConfig.stderr.trim().split('\n').length, 1, 'one line, no stack trace')

  const prod = await cli(['serve'], { ...baseEnv, NODE_ENV: 'production' })
  t.equal(prod.code, 1)
  t.match(prod.stderr, /SALESFORCE_CLIENT_SECRET: required/)
})

t.test('status on a missing store says so and exits 0; migrate creates it; status reads it', async (t) => {
  const dir = tempDir(t)
  const env = { ...baseEnv, DATABASE_URL: `sqlite:${join(dir, 'bridge.db')}` }

  const missing = await cli(['status'], env)
  t.equal(missing.code, 0, missing.stderr)
  t.match(missing.stdout, /store: sqlite, no store file yet/)
  t.notOk(existsSync(join(dir, 'bridge.db')), 'status created nothing')

  const migrated = await cli(['migrate'], env)
  t.equal(migrated.code, 0, migrated.stderr)
  t.match(migrated.stdout, /^sqlite store at schema version \d+ \(applied 1/)
  const again = await cli(['migrate'], env)
  t.match(again.stdout, /already up to date/)

  const status = await cli(['status', '--json'], env)
  t.equal(status.code, 0, status.stderr)
  const report = JSON.parse(status.stdout)
  t.same(report.store, { backend: 'sqlite', state: 'ready' })
  t.same(report.merchants, [])
  t.equal(report.kafka.reachable, true)
  t.same(report.kafka.groups.map((g: { groupId: string }) => g.groupId), ['salesforce-bridge.export', 'salesforce-bridge.import'])
})

t.test('status fails with one line when the store cannot be reached', async (t) => {
  const result = await cli(['status'], { ...baseEnv, DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' })
  t.equal(result.code, 1)
  t.match(result.stderr, /^salesforce-bridge: .+\n$/)
})

t.test('status with Kafka unreachable still answers, and says so', async (t) => {
  const dir = tempDir(t)
  const result = await cli(['status'], { ...baseEnv, DATABASE_URL: `sqlite:${join(dir, 'bridge.db')}`, KAFKA_BROKERS: '127.0.0.1:1' })
  t.equal(result.code, 0)
  t.match(result.stdout, /kafka: 127\.0\.0\.1:1 unreachable/)
})

t.test('serve: migrates, creates topics, answers /readyz, drains on SIGTERM and exits 0', async (t) => {
  const dir = tempDir(t)
  const prefix = randomName('test.serve')
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: {
      PATH: process.env.PATH ?? '',
      ...baseEnv,
      LOG_LEVEL: 'info',
      PORT: '0',
      METRICS_PORT: '0',
      DATABASE_URL: `sqlite:${join(dir, 'bridge.db')}`,
      KAFKA_TOPIC_COHORT_EVENTS: `${prefix}.events`,
      KAFKA_TOPIC_SALESFORCE_CHANGES: `${prefix}.changes`,
      KAFKA_TOPIC_DLQ: `${prefix}.dlq`,
      KAFKA_PARTITIONS: '2',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  // 'close', not 'exit': the last lines may still be in the pipe when the process exits.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)))
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  let out = ''
  child.stdout.on('data', (c: Buffer) => (out += c.toString()))
  child.stderr.on('data', (c: Buffer) => (out += c.toString()))
  const lines = () => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)

  await waitFor(() => lines().some((l) => l.msg === 'salesforce-bridge listening') || child.exitCode !== null, 60_000, 'the service to listen')
  const listening = lines().find((l) => l.msg === 'salesforce-bridge listening')
  t.ok(listening, out)
  const url = String(listening?.url)
  t.ok(lines().some((l) => l.msg === 'created topics'), 'topics created at start')

  // Ready once the store, Kafka and the consumers are: the consumers join their groups after
  // the listener is up, so /readyz answers 503 for a moment first (seen on a loaded machine).
  let readyStatus = 0
  await waitFor(async () => (readyStatus = (await fetch(`${url}/readyz`)).status) === 200, 30_000, 'the service to be ready').catch(() => undefined)
  t.equal(readyStatus, 200, 'ready')
  t.equal((await fetch(`${url}/metrics`)).status, 404, 'metrics moved off the main listener')
  const metrics = await fetch(String(listening?.metricsUrl) + '/metrics')
  t.equal(metrics.status, 200)
  t.match(await metrics.text(), /process_resident_memory_bytes/)
  t.notMatch(out, /TimeoutNegativeWarning/, 'node warnings go to the JSON log, not stderr')

  child.kill('SIGTERM')
  t.equal(await exited, 0, 'graceful exit')
  // Compared by their time: the child's output chunks may arrive interleaved.
  const timeOf = (msg: string) => String(lines().find((l) => l.msg === msg)?.time ?? '')
  t.ok(timeOf('shutting down: stopping intake, draining work'), 'shutdown began')
  t.ok(timeOf('stopped') >= timeOf('shutting down: stopping intake, draining work'), 'then it stopped')
  t.notOk(lines().some((l) => Number(l.level) >= 50), 'no error on the way')
})
