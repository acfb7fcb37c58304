import { randomBytes } from 'node:crypto'
import pg from 'pg'
import t from 'tap'
import { createPostgresStore } from '../../src/store/postgres/index.ts'
import { dropSchema } from '../helpers/index.ts'
import { createStoreTracker, runStoreContract } from './contract/index.ts'

const url = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
// A schema of its own, so test files can run in parallel against one database.
const schema = `store_test_${randomBytes(6).toString('hex')}`
const { track, closeAll } = createStoreTracker()

t.teardown(async () => {
  await closeAll()
  await dropSchema(schema)
})

await runStoreContract(t, async () => track(createPostgresStore({ url, schema, max: 4 })), {
  async seedLinks(merchantId, count) {
    const client = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` })
    await client.connect()
    try {
      await client.query(
        `INSERT INTO record_links (merchant_id, record_id, sobject, user_id, email, email_norm, updated_at)
          SELECT $1, '003' || lpad(i::text, 12, '0'), 'Contact', 'u' || i, 'user' || i || '@example.com', 'user' || i || '@example.com', now()
          FROM generate_series(0, $2::int - 1) AS i`,
        [merchantId, count])
    } finally {
      await client.end()
    }
  },
})

t.test('postgres: the tables live in the given schema', async (t) => {
  const admin = new pg.Client({ connectionString: url })
  await admin.connect()
  t.teardown(() => admin.end())
  const { rows } = await admin.query('SELECT table_name FROM information_schema.tables WHERE table_schema = $1', [schema])
  const tables = rows.map((r: { table_name: string }) => r.table_name)
  for (const table of ['schema_migrations', 'connections', 'job_runs', 'record_errors', 'traces']) t.ok(tables.includes(table), table)
})

t.test('postgres: an unreachable server is store.unavailable', async (t) => {
  const store = track(createPostgresStore({ url: 'postgres://postgres@127.0.0.1:1/test' }))
  await t.rejects(store.ping(), { code: 'store.unavailable' })
  await t.rejects(store.migrate(), { code: 'store.unavailable' })
  await t.rejects(store.getConnection('m'), { code: 'store.unavailable' })
})

t.test('postgres: a schema name that is not a plain identifier is refused', async (t) => {
  t.throws(() => createPostgresStore({ url, schema: 'x; DROP TABLE y' }), { code: 'config.invalid' })
})
