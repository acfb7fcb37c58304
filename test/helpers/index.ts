/**
 * Shared test helpers: random names per test, a config for tests, a logger whose lines can be
 * read back, and the addresses of the real Kafka broker and PostgreSQL server the suite uses.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import pg from 'pg'
import { loadConfig, type Config, type Env } from '../../src/config.ts'
import { createKafkaClient } from '../../src/kafka/index.ts'
import { createLogger, type Logger } from '../../src/logger.ts'
import { createStore, type Store } from '../../src/store/index.ts'

/** A name no other test uses: `prefix-<hex>`. */
export function randomName(prefix: string): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`
}

/** Brokers of the real Kafka the suite runs against (scripts/test.ts starts one if needed). */
export const kafkaBrokers = (process.env.TEST_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',')

/** The local PostgreSQL server (trust auth); each test file makes its own schema. */
export const postgresUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

/** A dev-mode configuration with `env` on top, parsed by the real config module. */
export function testConfig(env: Env = {}): Config {
  return loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', KAFKA_BROKERS: kafkaBrokers.join(','), ...env })
}

export interface LogSink {
  logger: Logger
  /** Every line written so far, parsed. */
  lines(): Record<string, unknown>[]
  /** Everything written so far, as written. */
  text(): string
}

/** A real pino logger writing into memory, so tests can assert on the JSON lines. */
export function createLogSink(level = 'trace'): LogSink {
  const chunks: string[] = []
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString('utf8'))
      callback()
    },
  })
  const logger = createLogger({ level, destination: stream })
  const text = () => chunks.join('')
  return {
    logger,
    text,
    lines: () => text().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>),
  }
}

/** Resolve when `predicate` holds, polling every 25 ms; fail after `timeoutMs`. */
export async function waitFor(predicate: () => boolean | Promise<boolean>, timeoutMs = 15_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0))
    })
  })
}

/**
 * Delete a test's topics (best effort), so a broker that runs for many suites does not pile up
 * thousands of partitions.
 */
export async function deleteTestTopics(topics: string[]): Promise<void> {
  const kafka = createKafkaClient({ brokers: kafkaBrokers, clientId: randomName('test-cleanup'), topics: [], logger: createLogSink('fatal').logger })
  try {
    await kafka.start()
    if (kafka.isConnected()) await kafka.deleteTopics(topics)
  } catch {
    // A leftover topic costs nothing but space; the test's result does not depend on it.
  } finally {
    await kafka.stop().catch(() => undefined)
  }
}

/** Drop a test's PostgreSQL schema and everything in it. */
export async function dropSchema(schema: string): Promise<void> {
  const admin = new pg.Client({ connectionString: postgresUrl })
  await admin.connect()
  try {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
  } finally {
    await admin.end()
  }
}

/** A test config on a fresh, migrated SQLite file of its own, removed at teardown. */
export async function sqliteTestStore(t: { teardown(fn: () => unknown): void }, env: Env = {}): Promise<{ config: Config; store: Store }> {
  const dir = mkdtempSync(join(tmpdir(), 'bridge-store-'))
  const config = testConfig({ DATABASE_URL: `sqlite:${join(dir, 'b.db')}`, ...env })
  const store = await createStore({ url: config.databaseUrl })
  await store.migrate()
  t.teardown(async () => {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return { config, store }
}
