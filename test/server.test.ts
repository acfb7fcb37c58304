/**
 * The service entry without the process: startServer on real parts. A password inside
 * DATABASE_URL never reaches a log line, an error or /readyz, whatever fails.
 */
import t from 'tap'
import { redactUrl, scrubSecrets } from '../src/logger.ts'
import { startServer } from '../src/server.ts'
import { createLogSink, dropSchema, randomName, testConfig } from './helpers/index.ts'

const PASSWORD = 'S3cret-pa55word'

t.test('the URL password is scrubbed by pattern, the user and host kept', async (t) => {
  t.equal(scrubSecrets(`connect to postgres://bridge:${PASSWORD}@db.internal:5432/bridge failed`), 'connect to postgres://bridge:[redacted]@db.internal:5432/bridge failed')
  t.equal(redactUrl(`postgresql://bridge:${PASSWORD}@db/x?sslmode=require`), 'postgresql://bridge:[redacted]@db/x?sslmode=require')
  t.equal(scrubSecrets('postgres://bridge@db/x'), 'postgres://bridge@db/x', 'no password, nothing changed')
})

t.test('an unreachable PostgreSQL with a password in DATABASE_URL: the start fails, the password appears nowhere', async (t) => {
  const sink = createLogSink('trace')
  const config = testConfig({ DATABASE_URL: `postgres://postgres:${PASSWORD}@127.0.0.1:1/test`, PORT: '0', LOG_LEVEL: 'trace' })
  const err = (await startServer(config, sink.logger).catch((e: unknown) => e)) as Error
  t.ok(err instanceof Error, 'the start fails')
  sink.logger.error({ err, config }, 'as the entry point logs it')
  const everything = `${sink.text()}\n${err.message}\n${String(err.stack)}\n${JSON.stringify(err)}`
  t.notOk(everything.includes(PASSWORD), 'not in logs, the error, its stack or its JSON')
  t.match(err.message, /State store|connect|ECONNREFUSED/i, 'the error still says what failed')
})

t.test('a running service on PostgreSQL with a password: logs and /readyz never show it', async (t) => {
  const schema = randomName('srv').replace(/-/g, '_')
  t.teardown(() => dropSchema(schema))
  const sink = createLogSink('trace')
  // Trust auth accepts any password, so this URL connects; the schema goes in search_path.
  const url = `postgres://postgres:${PASSWORD}@127.0.0.1:5432/test?options=${encodeURIComponent(`-c search_path=${schema}`)}`
  const { createServices } = await import('../src/services.ts')
  const probe = createServices(testConfig({ DATABASE_URL: url }), { logger: sink.logger, schema })
  await probe.store.migrate()
  await probe.stop()
  const server = await startServer(testConfig({ DATABASE_URL: url, PORT: '0', LOG_LEVEL: 'trace', KAFKA_BROKERS: '127.0.0.1:1' }), sink.logger)
  t.teardown(() => server.close())
  const ready = await fetch(`${server.url}/readyz`)
  const body = await ready.text()
  t.equal(ready.status, 503, 'Kafka is unreachable on purpose')
  t.notOk(body.includes(PASSWORD))
  t.notMatch(body, /127\.0\.0\.1:1|ECONNREFUSED/, 'no raw driver message for an anonymous caller')
  await server.close()
  t.notOk(sink.text().includes(PASSWORD), 'no log line holds the password')
})
