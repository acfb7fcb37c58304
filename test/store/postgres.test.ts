import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import pg from 'pg'
import t from 'tap'
import { createPostgresStore } from '../../src/store/postgres/index.ts'
import { dropSchema } from '../helpers/index.ts'
import { createStoreTracker, runStoreContract } from './contract/index.ts'
import { checkUpgrade } from './upgrade.ts'

const url = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
// A schema of its own, so test files can run in parallel against one database.
const schema = `store_test_${randomBytes(6).toString('hex')}`
const { track, closeAll } = createStoreTracker()

const upgradeSchema = `${schema}_up`

t.teardown(async () => {
  await closeAll()
  await dropSchema(schema)
  await dropSchema(upgradeSchema)
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

t.test('postgres: migrations 002 and 003 upgrade a store with data from 001', async (t) => {
  const admin = new pg.Client({ connectionString: url, options: `-c search_path=${upgradeSchema}` })
  await admin.connect()
  try {
    await admin.query(`CREATE SCHEMA ${upgradeSchema}`)
    await admin.query('CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())')
    await admin.query(readFileSync(new URL('../../src/store/migrations/postgres/001-initial.sql', import.meta.url), 'utf8'))
    await admin.query(`INSERT INTO schema_migrations (version, name) VALUES (1, 'initial');
      INSERT INTO record_links (merchant_id, record_id, sobject, user_id, email, updated_at) VALUES
        ('m-up', 'r1', 'Contact', 'u1', NULL, now() - interval '2 seconds'),
        ('m-up', 'r2', 'Contact', 'u1', NULL, now() - interval '1 second'),
        ('m-up', 'r3', 'Contact', 'u2', ' Ada@Example.COM ', now());
      INSERT INTO merchant_settings VALUES ('m-up', '{}', '{}', 1, now()), ('m-up2', '{}', '{}', 1, now());
      INSERT INTO record_errors (id, merchant_id, direction, record_id, code, message, attempts, first_at, at)
        VALUES ('e1', 'm-up', 'import', 'r3', 'X', 'x', 1, now(), now());
      INSERT INTO leases VALUES ('up-lease', 'a', now() - interval '1 second');
      INSERT INTO job_runs (id, merchant_id, kind, status, dry_run, created_at, updated_at)
        VALUES ('run-1', 'm-up', 'reconcile', 'running', false, now(), now())`)
  } finally {
    await admin.end()
  }
  await checkUpgrade(t, track(createPostgresStore({ url, schema: upgradeSchema, max: 2 })))
})
