/**
 * `npm test`: type check, lint, then the tap suite (unit + integration) against a real Kafka
 * broker (started here when none answers at TEST_KAFKA_BROKERS, stopped again at the end)
 * and the local PostgreSQL server; installs Debian's Chromium for the browser test when it is
 * missing. Ends with one line `N passed, N failed`.
 *
 * Extra arguments go to tap: `npm test -- test/config.test.ts`.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ensureKafka, isReachable, ROOT, run } from './lib/local-stack.ts'

const bin = (name: string) => join(ROOT, 'node_modules', '.bin', name)

/** Runs tap, passing its TAP output through, and returns the counts from its summary. */
function runTap(args: string[], env: NodeJS.ProcessEnv): Promise<{ pass: number; fail: number; code: number }> {
  return new Promise((resolve) => {
    const child = spawn(bin('tap'), ['--reporter=tap', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => {
      process.stdout.write(chunk)
      output += chunk.toString('utf8')
    })
    child.once('exit', (code) => {
      mkdirSync(join(ROOT, 'test-output'), { recursive: true })
      writeFileSync(join(ROOT, 'test-output', 'tap.txt'), output)
      const summary = [...output.matchAll(/^# \{ total: (\d+)(?:, pass: (\d+))?(?:, fail: (\d+))?/gm)].at(-1)
      const pass = Number(summary?.[2] ?? 0)
      // No summary at all means tap itself broke: count that as a failure.
      const fail = summary ? Number(summary[3] ?? 0) : 1
      resolve({ pass, fail, code: code ?? 1 })
    })
  })
}

async function main(): Promise<number> {
  const tapArgs = process.argv.slice(2)
  let stepFailures = 0
  const step = async (name: string, command: string, args: string[]) => {
    process.stdout.write(`\n# ${name}\n`)
    const code = await run(command, args)
    if (code !== 0) {
      stepFailures++
      process.stdout.write(`# ${name} failed (exit ${code})\n`)
    }
  }
  if (tapArgs.length === 0) {
    await step('type check', bin('tsc'), ['--noEmit'])
    await step('lint', bin('eslint'), ['.'])
  }

  // PostgreSQL runs on this kind of machine from boot; start it if it was stopped.
  if (!(await isReachable('127.0.0.1:5432')) && existsSync('/etc/postgresql')) {
    const versions = readdirSync('/etc/postgresql')
    if (versions[0]) await step('start PostgreSQL', 'pg_ctlcluster', ['--skip-systemctl-redirect', versions[0], 'main', 'start'])
  }
  // The browser test needs Debian's Chromium; install it when missing so one command does all set-up.
  if (!existsSync(process.env.CHROMIUM_PATH ?? '/usr/bin/chromium')) await step('install Chromium', 'bash', ['scripts/install-chromium.sh'])

  process.stdout.write('\n# test suite\n')
  const kafka = await ensureKafka(process.env.TEST_KAFKA_BROKERS ?? '127.0.0.1:9092')
  let result: { pass: number; fail: number; code: number }
  try {
    result = await runTap(tapArgs, { ...process.env, TEST_KAFKA_BROKERS: kafka.brokers })
  } finally {
    kafka.stop()
  }
  const failed = result.fail + stepFailures + (result.fail === 0 && result.code !== 0 ? 1 : 0)
  process.stdout.write(`\n${result.pass} passed, ${failed} failed\n`)
  return failed === 0 ? 0 : 1
}

process.exitCode = await main()
