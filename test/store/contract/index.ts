/**
 * The behaviour every Store backend must show, one file per capability. Each backend's test
 * file calls runStoreContract with a factory that opens a new store instance on the same,
 * initially empty database (file or schema); several instances at once stand in for several
 * processes. The parts share that database, so each one works on merchants of its own.
 */
import type { Test } from 'tap'
import type { Store } from '../../../src/store/index.ts'
import { loadMigrations } from '../../../src/store/shared/migrations.ts'
import { auditContract } from './audit.ts'
import { batchesContract } from './batches.ts'
import { checkpointsContract } from './checkpoints.ts'
import { connectionsContract } from './connections.ts'
import { errorsContract } from './errors.ts'
import { exportStateContract } from './export-state.ts'
import { fieldStatesContract } from './field-states.ts'
import { healthContract } from './health.ts'
import type { BackendHooks, ContractContext, MakeStore } from './helpers.ts'
import { housekeepingContract } from './housekeeping.ts'
import { leasesContract } from './leases.ts'
import { lifecycleContract } from './lifecycle.ts'
import { linksContract } from './links.ts'
import { parkedContract } from './parked.ts'
import { runsContract } from './runs.ts'
import { settingsContract } from './settings.ts'
import { syncStateContract } from './sync-state.ts'
import { tracesContract } from './traces.ts'
import { walkContract } from './walk.ts'
import { webhooksContract } from './webhooks.ts'

export type { BackendHooks, MakeStore } from './helpers.ts'
export { linkRecordId } from './helpers.ts'

const PARTS: Array<[string, (t: Test, ctx: ContractContext) => Promise<void>]> = [
  ['lifecycle', lifecycleContract],
  ['connections', connectionsContract],
  ['settings', settingsContract],
  ['links', linksContract],
  ['field states', fieldStatesContract],
  ['errors', errorsContract],
  ['runs', runsContract],
  ['leases', leasesContract],
  ['checkpoints', checkpointsContract],
  ['parked', parkedContract],
  ['export state', exportStateContract],
  ['webhooks', webhooksContract],
  ['audit', auditContract],
  ['traces', tracesContract],
  ['batches', batchesContract],
  ['sync state', syncStateContract],
  ['health', healthContract],
  // Purges whole kinds of rows: after the parts that make them.
  ['housekeeping', housekeepingContract],
  ['walk', walkContract],
]

export async function runStoreContract(t: Test, makeStore: MakeStore, hooks: BackendHooks): Promise<void> {
  // One parent subtest: the root test may end (and run its teardowns) whenever it has no
  // subtest in flight, which would close the shared store between two subtests.
  await t.test('store contract', (t) => contract(t, makeStore, hooks))
}

async function contract(t: Test, makeStore: MakeStore, hooks: BackendHooks): Promise<void> {
  /** A store instance, answering (a threaded store's thread has started), closed when subtest `tt` ends. */
  const open = async (tt: Test): Promise<Store> => {
    const store = await makeStore()
    tt.teardown(() => store.close())
    await store.ping()
    return store
  }

  await t.test('migrate: concurrent first runs apply each migration exactly once', async (t) => {
    const a = await open(t)
    const b = await open(t)
    const [ra, rb] = await Promise.all([a.migrate(), b.migrate()])
    const applied = [...ra.applied, ...rb.applied].sort((x, y) => x - y)
    const versions = (await loadMigrations(a.backend)).map((m) => m.version)
    t.same(applied, versions, 'every migration applied once')
    t.equal(ra.current, rb.current)
    t.equal(ra.current, versions.at(-1), 'current is the newest')
    const again = await a.migrate()
    t.same(again, { applied: [], current: ra.current }, 'a later run has nothing to do')
  })

  const store = await makeStore()
  t.teardown(() => store.close())
  await store.migrate()
  const ctx: ContractContext = { store, open, makeStore, seedLinks: hooks.seedLinks }
  for (const [name, part] of PARTS) await t.test(name, (t) => part(t, ctx))
}

/** Remembers every store a test file opens, so its teardown closes them all. */
export function createStoreTracker(): { track: (store: Store) => Store; closeAll: () => Promise<void> } {
  const opened: Store[] = []
  return {
    track(store) {
      opened.push(store)
      return store
    },
    closeAll: async () => {
      await Promise.all(opened.map((store) => store.close()))
    },
  }
}
