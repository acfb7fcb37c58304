import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import t from 'tap'
import { createStore } from '../../src/store/index.ts'
import { loadMigrations } from '../../src/store/shared/migrations.ts'
import { createSqliteStore } from '../../src/store/sqlite/index.ts'
import { createStoreTracker, runStoreContract } from './contract/index.ts'
import { sqliteHooks } from './sqlite-hooks.ts'
import { checkUpgrade } from './upgrade.ts'

const dir = mkdtempSync(join(tmpdir(), 'sfbridge-store-'))
// A folder that does not exist yet: the store must create it.
const path = join(dir, 'nested', 'state.db')
const { track, closeAll } = createStoreTracker()

t.teardown(async () => {
  await closeAll()
  rmSync(dir, { recursive: true, force: true })
})

await runStoreContract(t, async () => track(createSqliteStore({ path })), sqliteHooks(path))

t.test('sqlite: the file is in WAL mode', async (t) => {
  const db = new DatabaseSync(path, { readOnly: true })
  t.teardown(() => db.close())
  t.equal(db.prepare('PRAGMA journal_mode').get()?.journal_mode, 'wal')
})

t.test('sqlite: a write blocked by another connection fails with store.busy after busy_timeout', async (t) => {
  const store = track(createSqliteStore({ path, busyTimeoutMs: 20 }))
  const holder = new DatabaseSync(path)
  t.teardown(() => {
    if (holder.isTransaction) holder.exec('ROLLBACK')
    holder.close()
  })
  holder.exec('BEGIN IMMEDIATE')
  await t.rejects(store.requestReplay('m-busy', 'c', 1), { code: 'store.busy' })
  holder.exec('ROLLBACK')
  await store.requestReplay('m-busy', 'c', 1)
  t.match(await store.takeReplayRequest('m-busy'), { replayId: 1 }, 'works once the lock is gone')
})

t.test('sqlite: a file that cannot be opened is store.unavailable', async (t) => {
  const file = join(dir, 'not-a-folder')
  writeFileSync(file, 'x')
  t.throws(() => createSqliteStore({ path: join(file, 'state.db') }), { code: 'store.unavailable' })
})

t.test('sqlite: :memory: works', async (t) => {
  const store = track(createSqliteStore({ path: ':memory:' }))
  t.same((await store.migrate()).applied, (await loadMigrations('sqlite')).map((m) => m.version))
  await store.requestReplay('m', 'c', 3)
  t.match(await store.takeReplayRequest('m'), { replayId: 3 })
})

t.test('createStore picks the backend from the URL', async (t) => {
  const relativePath = relative(process.cwd(), join(dir, 'relative', 'state.db'))
  const fromRelative = track(createStore({ url: `sqlite:${relativePath}` }))
  t.equal(fromRelative.backend, 'sqlite')
  // The store's thread opens (and creates) the file: its first answer says it has.
  await fromRelative.ping()
  t.ok(existsSync(join(dir, 'relative', 'state.db')), 'a relative path resolves against the working directory')
  t.equal(track(createStore({ url: 'sqlite::memory:' })).backend, 'sqlite')

  const pg = track(createStore({ url: 'postgresql://user@127.0.0.1:1/db' }))
  t.equal(pg.backend, 'postgres')
  t.equal(track(createStore({ url: 'postgres://user@127.0.0.1:1/db' })).backend, 'postgres')

  t.throws(() => createStore({ url: 'mysql://user:secret@host/db' }), { code: 'store.unsupported-url' })
  t.throws(() => createStore({ url: 'sqlite:' }), { code: 'store.unsupported-url' })
  t.throws(() => createStore({ url: '' }), { code: 'store.unsupported-url' })
  try {
    createStore({ url: 'mysql://user:secret@host/db' })
  } catch (err) {
    t.notMatch((err as Error).message, /secret/, 'the URL is not echoed')
  }
})

t.test('sqlite: migrations 002 and 003 upgrade a store with data from 001', async (t) => {
  const file = join(dir, 'upgrade.db')
  const db = new DatabaseSync(file)
  const now = Date.now()
  db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT')
  db.exec(readFileSync(new URL('../../src/store/migrations/sqlite/001-initial.sql', import.meta.url), 'utf8'))
  db.prepare("INSERT INTO schema_migrations VALUES (1, 'initial', ?)").run(now)
  const link = db.prepare("INSERT INTO record_links (merchant_id, record_id, sobject, user_id, email, updated_at) VALUES ('m-up', ?, 'Contact', ?, ?, ?)")
  link.run('r1', 'u1', null, now - 2000)
  link.run('r2', 'u1', null, now - 1000)
  link.run('r3', 'u2', ' Ada@Example.COM ', now)
  const settings = db.prepare("INSERT INTO merchant_settings VALUES (?, '{}', '{}', 1, ?)")
  settings.run('m-up', now)
  settings.run('m-up2', now)
  db.prepare(`INSERT INTO record_errors (id, merchant_id, direction, record_id, code, message, attempts, first_at, at)
    VALUES ('e1', 'm-up', 'import', 'r3', 'X', 'x', 1, ?, ?)`).run(now, now)
  db.prepare("INSERT INTO leases VALUES ('up-lease', 'a', ?)").run(now - 1000)
  db.prepare(`INSERT INTO job_runs (id, merchant_id, kind, status, dry_run, created_at, updated_at)
    VALUES ('run-1', 'm-up', 'reconcile', 'running', 0, ?, ?)`).run(now, now)
  db.close()
  await checkUpgrade(t, track(createSqliteStore({ path: file })))
})
