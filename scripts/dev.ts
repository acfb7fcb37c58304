/**
 * `npm run dev`: the whole local stack. Starts the local Kafka broker when nothing answers at
 * KAFKA_BROKERS, the Salesforce and Cohort stand-ins (sandbox/main.ts) when the project has
 * them, and the service in watch mode; prints where everything listens. Ctrl-C stops what it
 * started (a broker that was already running is left alone).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { ensureKafka, isReachable, ROOT } from './lib/local-stack.ts'

const port = process.env.PORT ?? '8080'
const serviceUrl = `http://127.0.0.1:${port}`
const children: ChildProcess[] = []

function start(name: string, args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: 'inherit', env })
  child.once('exit', (code, signal) => {
    if (!stopping) process.stderr.write(`[dev] ${name} exited (${signal ?? code})\n`)
  })
  children.push(child)
  return child
}

async function waitReady(url: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url)
      if (res.ok) return true
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250))
  }
  return false
}

let stopping = false
const kafka = await ensureKafka(process.env.KAFKA_BROKERS ?? '127.0.0.1:9092')
const env = { ...process.env, KAFKA_BROKERS: kafka.brokers }

const sandboxEntry = join(ROOT, 'sandbox', 'main.ts')
const hasSandbox = existsSync(sandboxEntry)
if (hasSandbox) start('stand-ins', [sandboxEntry], env)

if (await isReachable(`127.0.0.1:${port}`, 500)) {
  process.stderr.write(`[dev] port ${port} is taken: set PORT to run the service elsewhere\n`)
}
start('service', ['--watch', '--watch-preserve-output', join(ROOT, 'src', 'server.ts')], env)

const ready = await waitReady(`${serviceUrl}/readyz`, 90_000)
process.stderr.write([
  '',
  `[dev] ${ready ? 'ready' : 'started (not ready yet: see the log above)'}`,
  `[dev]   service     ${serviceUrl}   (/healthz, /readyz, /metrics)`,
  `[dev]   kafka       ${kafka.brokers}${kafka.startedHere ? '   (started by npm run dev; scripts/kafka.sh stop)' : '   (already running)'}`,
  `[dev]   store       ${process.env.DATABASE_URL ?? 'sqlite:./data/bridge.db'}`,
  ...(hasSandbox
    ? [
        `[dev]   dashboard   http://127.0.0.1:${process.env.SANDBOX_DASHBOARD_PORT ?? '3000'}   (Connect, then log in as integration@example.com / password)`,
        `[dev]   salesforce  http://127.0.0.1:${process.env.SANDBOX_SALESFORCE_PORT ?? '8081'}   (stand-in)`,
        `[dev]   cohort      http://127.0.0.1:${process.env.SANDBOX_COHORT_PORT ?? '8082'}   (stand-in)`,
      ]
    : ['[dev]   stand-ins   not in this checkout']),
  '[dev] Ctrl-C stops everything started here',
  '',
].join('\n'))

const stop = (signal: NodeJS.Signals) => {
  if (stopping) return
  stopping = true
  for (const child of children) child.kill(signal === 'SIGINT' ? 'SIGTERM' : signal)
  Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : null))).then(() => {
    kafka.stop()
    process.exit(0)
  })
}
process.on('SIGINT', () => stop('SIGINT'))
process.on('SIGTERM', () => stop('SIGTERM'))
