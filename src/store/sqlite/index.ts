/** The SQLite store: one part per capability, composed into one Store. */
import { migrationError, withErrorMapping } from '../shared/errors.ts'
import { loadMigrations, type Migration } from '../shared/migrations.ts'
import { walkPages } from '../shared/walk.ts'
import type { LifecycleStore, Store } from '../types/index.ts'
import { sqliteAudit } from './audit.ts'
import { sqliteBatches } from './batches.ts'
import { sqliteCheckpoints } from './checkpoints.ts'
import { sqliteConnections } from './connections.ts'
import { mapSqliteError, openSqlite, type SqliteContext, type SqliteStoreOptions } from './db.ts'
import { sqliteErrors } from './errors.ts'
import { sqliteExportState } from './export-state.ts'
import { sqliteExportVersions } from './export-versions.ts'
import { sqliteFieldStates } from './field-states.ts'
import { sqliteHealth } from './health.ts'
import { sqliteHousekeeping } from './housekeeping.ts'
import { sqliteLeases } from './leases.ts'
import { sqliteLinks } from './links.ts'
import { sqliteParked } from './parked.ts'
import { sqliteRuns } from './runs.ts'
import { sqliteSettings } from './settings.ts'
import { sqliteTraces } from './traces.ts'
import { sqliteWebhooks } from './webhooks.ts'

export type { SqliteStoreOptions } from './db.ts'

function sqliteLifecycle(ctx: SqliteContext): LifecycleStore {
  const { db, sql } = ctx
  function applyMigration(migration: Migration): boolean {
    return ctx.transaction(() => {
      // Re-checked under the write lock: another process may have applied it meanwhile.
      if (sql.get`SELECT 1 FROM schema_migrations WHERE version = ${migration.version}`) return false
      db.exec(migration.sql)
      sql.run`INSERT INTO schema_migrations (version, name, applied_at) VALUES (${migration.version}, ${migration.name}, ${Date.now()})`
      return true
    })
  }
  return {
    backend: 'sqlite',

    async migrate() {
      const migrations = await loadMigrations('sqlite')
      const applied: number[] = []
      let current: Migration | undefined
      try {
        ctx.transaction(() => db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT'))
        for (const migration of migrations) {
          current = migration
          if (applyMigration(migration)) applied.push(migration.version)
        }
        current = undefined
        const row = sql.get`SELECT coalesce(max(version), 0) AS version FROM schema_migrations`
        return { applied, current: Number(row?.version ?? 0) }
      } catch (err) {
        throw migrationError(mapSqliteError(err), current)
      }
    },

    async ping() {
      sql.get`SELECT 1`
    },

    async close() {
      if (db.isOpen) db.close()
    },
  }
}

export function createSqliteStore(options: SqliteStoreOptions): Store {
  const ctx = openSqlite(options)
  const core = withErrorMapping({
    ...sqliteLifecycle(ctx),
    ...sqliteConnections(ctx),
    ...sqliteSettings(ctx),
    ...sqliteLinks(ctx),
    ...sqliteFieldStates(ctx),
    ...sqliteExportVersions(ctx),
    ...sqliteExportState(ctx),
    ...sqliteErrors(ctx),
    ...sqliteRuns(ctx),
    ...sqliteLeases(ctx),
    ...sqliteCheckpoints(ctx),
    ...sqliteParked(ctx),
    ...sqliteWebhooks(ctx),
    ...sqliteAudit(ctx),
    ...sqliteTraces(ctx),
    ...sqliteBatches(ctx),
    ...sqliteHousekeeping(ctx),
    ...sqliteHealth(ctx),
  }, mapSqliteError)
  return withWalks(core)
}

/** The store with its walks, built on its page calls (on the caller's side of a threaded store too). */
export function withWalks(core: Omit<Store, 'walkLinks' | 'walkFieldStates'>): Store {
  return {
    ...core,
    walkLinks: (merchantId, walk) => walkPages((after, limit) => core.listLinksPage(merchantId, { after, limit }), walk),
    walkFieldStates: (merchantId, walk) => walkPages((after, limit) => core.listFieldStatesPage(merchantId, { after, limit }), walk),
  }
}
