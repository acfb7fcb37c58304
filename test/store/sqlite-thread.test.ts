/**
 * The SQLite store on its own thread (src/store/sqlite/thread.ts), the one `createStore` gives
 * for `sqlite:` URLs: the whole store contract through the thread, and what the thread adds
 * (errors keep their code, a bad file fails the first call, closing ends every call).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import t from 'tap'
import { AppError } from '../../src/errors.ts'
import { createStore } from '../../src/store/index.ts'
import { createThreadedSqliteStore } from '../../src/store/sqlite/thread.ts'
import { createStoreTracker, runStoreContract } from './contract/index.ts'
import { sqliteHooks } from './sqlite-hooks.ts'

const dir = mkdtempSync(join(tmpdir(), 'sfbridge-store-thread-'))
const path = join(dir, 'state.db')
const { track, closeAll } = createStoreTracker()

t.teardown(async () => {
  await closeAll()
  rmSync(dir, { recursive: true, force: true })
})

await runStoreContract(t, async () => track(createThreadedSqliteStore({ path })), sqliteHooks(path))

t.test('sqlite thread: createStore gives the threaded store for sqlite: URLs', async (t) => {
  const store = track(createStore({ url: `sqlite:${join(dir, 'via-url.db')}` }))
  await store.migrate()
  t.equal(store.backend, 'sqlite')
  await store.ping()
  // The calls ran on another thread: this thread has no connection of its own to the file.
  const db = new DatabaseSync(join(dir, 'via-url.db'), { readOnly: true })
  t.teardown(() => db.close())
  t.ok(db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'schema_migrations'").get())
})

t.test('sqlite thread: an AppError crosses with its code, flags and message', async (t) => {
  const store = track(createThreadedSqliteStore({ path: join(dir, 'errors.db') }))
  await store.migrate()
  const err = await store.saveReplayId('m1', '/data/ContactChangeEvent', 11, { lease: { name: 'never-taken', fence: 1 } }).then(() => null, (e: unknown) => e)
  t.ok(err instanceof AppError, 'an AppError on this side')
  t.equal((err as AppError).code, 'store.fenced')
  t.equal((err as AppError).status, 409)
  t.equal((err as AppError).retriable, false)
  t.match((err as AppError).message, /never-taken/)
})

t.test('sqlite thread: a file that cannot be opened fails the first call with store.unavailable', async (t) => {
  const file = join(dir, 'a-file')
  writeFileSync(file, 'not a folder')
  const store = createThreadedSqliteStore({ path: join(file, 'state.db') })
  const err = await store.ping().then(() => null, (e: unknown) => e)
  t.ok(err instanceof AppError, 'an AppError')
  t.equal((err as AppError).code, 'store.unavailable')
  t.equal((err as AppError).retriable, true)
  await store.close()
})

t.test('sqlite thread: after close every call fails with store.unavailable, and close again is harmless', async (t) => {
  const store = createThreadedSqliteStore({ path: join(dir, 'closed.db') })
  await store.migrate()
  await store.close()
  await store.close()
  const err = await store.ping().then(() => null, (e: unknown) => e)
  t.ok(err instanceof AppError)
  t.equal((err as AppError).code, 'store.unavailable')
  t.match((err as AppError).message, /closed/)
})

t.test('sqlite thread: calls take effect in the order they are made', async (t) => {
  const store = track(createThreadedSqliteStore({ path: join(dir, 'order.db') }))
  await store.migrate()
  // Not awaited one by one: the park and the acks race only if the thread reordered them.
  const writes = []
  for (let i = 0; i < 50; i++) writes.push(store.parkExportChanges('m1', [{ key: `u${i % 5}`, properties: { p: { value: i, version: i } } }]))
  const peeked = store.peekParkedChanges('m1', 10)
  await Promise.all(writes)
  const page = await peeked
  t.same(page.map((p) => [p.key, p.properties.p?.value]), [['u0', 45], ['u1', 46], ['u2', 47], ['u3', 48], ['u4', 49]])
})
