/**
 * Helpers shared by scripts/dev.ts and scripts/test.ts: is a TCP port answering, and the
 * local Kafka broker (scripts/kafka.sh) started only when nothing answers already.
 */
import { spawn, spawnSync } from 'node:child_process'
import { connect } from 'node:net'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** True when something accepts a TCP connection on host:port within `timeoutMs`. */
export function isReachable(hostPort: string, timeoutMs = 1000): Promise<boolean> {
  const [host = '127.0.0.1', port = '0'] = hostPort.split(':')
  return new Promise((resolve) => {
    const socket = connect({ host, port: Number(port) })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

/** Run a command with inherited output; resolves with its exit code. */
export function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: 'inherit', env })
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)))
    child.once('error', () => resolve(127))
  })
}

export interface KafkaHandle {
  brokers: string
  /** True when this process started the broker (and so stops it). */
  startedHere: boolean
  stop(): void
}

/** Use the broker at `brokers` if it answers; otherwise start the project's local one. */
export async function ensureKafka(brokers: string): Promise<KafkaHandle> {
  const first = brokers.split(',')[0] ?? '127.0.0.1:9092'
  if (await isReachable(first)) return { brokers, startedHere: false, stop: () => undefined }
  const port = first.split(':')[1] ?? '9092'
  const env = { ...process.env, KAFKA_PORT: port }
  const code = await run('bash', ['scripts/kafka.sh', 'start'], env)
  if (code !== 0) throw new Error(`scripts/kafka.sh start failed with exit code ${code}`)
  return {
    brokers: first,
    startedHere: true,
    stop: () => {
      spawnSync('bash', ['scripts/kafka.sh', 'stop'], { cwd: ROOT, stdio: 'inherit', env })
    },
  }
}
