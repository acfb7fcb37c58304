/** The PostgreSQL store: one part per capability, composed into one Store. */
import type pg from 'pg'
import { migrationError, withErrorMapping } from '../shared/errors.ts'
import { loadMigrations, type Migration } from '../shared/migrations.ts'
import { walkPages } from '../shared/walk.ts'
import type { LifecycleStore, Store } from '../types/index.ts'
import { postgresAudit } from './audit.ts'
import { postgresBatches } from './batches.ts'
import { postgresCheckpoints } from './checkpoints.ts'
import { postgresConnections } from './connections.ts'
import { mapPgError, openPostgres, type PostgresContext, type PostgresStoreOptions } from './db.ts'
import { postgresErrors } from './errors.ts'
import { postgresExportState } from './export-state.ts'
import { postgresExportVersions } from './export-versions.ts'
import { postgresFieldStates } from './field-states.ts'
import { postgresHealth } from './health.ts'
import { postgresHousekeeping } from './housekeeping.ts'
import { postgresLeases } from './leases.ts'
import { postgresLinks } from './links.ts'
import { postgresParked } from './parked.ts'
import { postgresRuns } from './runs.ts'
import { postgresSettings } from './settings.ts'
import { postgresTraces } from './traces.ts'
import { postgresWebhooks } from './webhooks.ts'

export type { PostgresStoreOptions } from './db.ts'

/** Key of the advisory lock that serialises migrations across processes ("sfbridge" in ASCII). */
const MIGRATION_LOCK = '8315442005520181093'

function postgresLifecycle(ctx: PostgresContext): LifecycleStore {
  const { pool, schema } = ctx

  // Every migration step takes the same advisory lock, then re-checks what is applied, so
  // two processes migrating at once apply each migration exactly once. The schema and the
  // bookkeeping table are created under the lock too: concurrent CREATE ... IF NOT EXISTS
  // can otherwise fail with a unique violation.
  function lockedStep<T>(client: pg.PoolClient, fn: () => Promise<T>): Promise<T> {
    return ctx.transaction(async () => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK])
      if (schema !== undefined) await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`)
      await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())')
      return fn()
    }, client)
  }

  return {
    backend: 'postgres',

    async migrate() {
      const migrations = await loadMigrations('postgres')
      const applied: number[] = []
      let current: Migration | undefined
      try {
        const client = await pool.connect()
        let healthy = false
        try {
          for (const migration of migrations) {
            current = migration
            const done = await lockedStep(client, async () => {
              const seen = await client.query('SELECT 1 FROM schema_migrations WHERE version = $1', [migration.version])
              if (seen.rowCount) return false
              await client.query(migration.sql)
              await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name])
              return true
            })
            if (done) applied.push(migration.version)
          }
          current = undefined
          const version = await lockedStep(client, async () => (await client.query('SELECT coalesce(max(version), 0) AS v FROM schema_migrations')).rows[0].v)
          healthy = true
          return { applied, current: Number(version) }
        } finally {
          // After a failure the connection may be mid-transaction or gone: never reuse it.
          client.release(!healthy)
        }
      } catch (err) {
        throw migrationError(mapPgError(err), current)
      }
    },

    async ping() {
      await pool.query('SELECT 1')
    },

    async close() {
      if (ctx.isClosed()) return
      ctx.markClosed()
      await pool.end()
    },
  }
}

export function createPostgresStore(options: PostgresStoreOptions): Store {
  const ctx = openPostgres(options)
  const core = withErrorMapping({
    ...postgresLifecycle(ctx),
    ...postgresConnections(ctx),
    ...postgresSettings(ctx),
    ...postgresLinks(ctx),
    ...postgresFieldStates(ctx),
    ...postgresExportVersions(ctx),
    ...postgresExportState(ctx),
    ...postgresErrors(ctx),
    ...postgresRuns(ctx),
    ...postgresLeases(ctx),
    ...postgresCheckpoints(ctx),
    ...postgresParked(ctx),
    ...postgresWebhooks(ctx),
    ...postgresAudit(ctx),
    ...postgresTraces(ctx),
    ...postgresBatches(ctx),
    ...postgresHousekeeping(ctx),
    ...postgresHealth(ctx),
  }, mapPgError)
  return {
    ...core,
    walkLinks: (merchantId, walk) => walkPages((after, limit) => core.listLinksPage(merchantId, { after, limit }), walk),
    walkFieldStates: (merchantId, walk) => walkPages((after, limit) => core.listFieldStatesPage(merchantId, { after, limit }), walk),
  }
}
