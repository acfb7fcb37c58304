/**
 * The PostgreSQL store, on a pg Pool. Statements that must be atomic are single statements
 * (upserts with a WHERE, DELETE ... RETURNING) wherever possible, so most calls need no
 * explicit transaction and hold no connection between round trips.
 */
import pg from 'pg'
import { AppError } from '../errors.ts'
import {
  clampLimit,
  decodeCursor,
  jobRunAssignments,
  loadMigrations,
  migrationError,
  newId,
  toAuditEntry,
  toConnection,
  toFieldState,
  toJobRun,
  toJson,
  toOAuthState,
  toPage,
  toRecordError,
  toRecordLink,
  toSettings,
  toTraceEntry,
  traceFilters,
  withErrorMapping,
  type Codec,
  type Migration,
  type Row,
} from './shared.ts'
import type { PageOptions, Store } from './types.ts'

export interface PostgresStoreOptions {
  url: string
  /** Schema to create and use instead of the default search_path (one per test file, say). */
  schema?: string
  /** Pool size. Default 10. */
  max?: number
}

// pg already parses timestamptz into Date and jsonb into values.
const codec: Codec = {
  date: (value) => (value instanceof Date ? value : new Date(String(value))),
  json: (value) => value ?? null,
}

/** Key of the advisory lock that serialises migrations across processes ("sfbridge" in ASCII). */
const MIGRATION_LOCK = '8315442005520181093'

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'EAI_AGAIN'])
// admin/crash shutdown, cannot connect now, too many connections, bad credentials, no such database
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300', '28000', '28P01', '3D000'])
// serialization failure, deadlock, lock not available, statement timeout
const BUSY_SQLSTATES = new Set(['40001', '40P01', '55P03', '57014'])
// pg reports a lost or closed connection by message only.
const CONNECTION_MESSAGES = /connection terminated|timeout exceeded when trying to connect|after calling end on the pool|not queryable/i

function mapPgError(err: unknown): unknown {
  if (err instanceof AppError) return err
  const code = (err as { code?: unknown }).code
  const text = err instanceof Error ? err.message : String(err)
  const message = `State store: ${text}`
  if (typeof code === 'string') {
    if (CONNECTION_CODES.has(code) || code.startsWith('08') || UNAVAILABLE_SQLSTATES.has(code)) return new AppError('store.unavailable', message, { cause: err })
    if (BUSY_SQLSTATES.has(code)) return new AppError('store.busy', message, { cause: err })
    if (code === '23505') return new AppError('store.conflict', message, { cause: err })
  }
  if (CONNECTION_MESSAGES.test(text)) return new AppError('store.unavailable', message, { cause: err })
  return err
}

export function createPostgresStore(options: PostgresStoreOptions): Store {
  const { schema } = options
  // The name goes into SQL and into a startup option, so only plain identifiers are allowed.
  if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new AppError('config.invalid', `Invalid state store schema name: ${JSON.stringify(schema)}`)
  }
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? 10,
    // Without it a connect to a black-holed host waits forever instead of failing.
    connectionTimeoutMillis: 10_000,
    ...(schema === undefined ? {} : { options: `-c search_path=${schema}` }),
  })
  // An idle client lost its server: the pool drops it, and the next query reconnects or
  // fails with store.unavailable. Without a listener the error would crash the process.
  pool.on('error', () => undefined)
  let closed = false

  const rows = async (text: string, values: unknown[] = []): Promise<Row[]> => (await pool.query(text, values)).rows as Row[]
  const one = async (text: string, values: unknown[] = []): Promise<Row | undefined> => (await rows(text, values))[0]

  async function transaction<T>(fn: (client: pg.PoolClient) => Promise<T>, client?: pg.PoolClient): Promise<T> {
    const c = client ?? (await pool.connect())
    let broken = false
    try {
      await c.query('BEGIN')
      const result = await fn(c)
      await c.query('COMMIT')
      return result
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {
        broken = true
      })
      throw err
    } finally {
      // A client whose ROLLBACK failed is in an unknown state: destroy it, never reuse it.
      if (!client) c.release(broken)
    }
  }

  // Every migration step takes the same advisory lock, then re-checks what is applied, so
  // two processes migrating at once apply each migration exactly once. The schema and the
  // bookkeeping table are created under the lock too: concurrent CREATE ... IF NOT EXISTS
  // can otherwise fail with a unique violation.
  function lockedStep<T>(client: pg.PoolClient, fn: () => Promise<T>): Promise<T> {
    return transaction(async () => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK])
      if (schema !== undefined) await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`)
      await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())')
      return fn()
    }, client)
  }

  async function newestFirst(table: 'record_errors' | 'audit_log', merchantId: string, options: PageOptions): Promise<{ found: Row[]; limit: number }> {
    const limit = clampLimit(options.limit)
    const cursor = decodeCursor(options.cursor)
    const found = cursor
      ? await rows(`SELECT * FROM ${table} WHERE merchant_id = $1 AND (at, id) < ($2::timestamptz, $3) ORDER BY at DESC, id DESC LIMIT $4`, [merchantId, cursor.at, cursor.id, limit + 1])
      : await rows(`SELECT * FROM ${table} WHERE merchant_id = $1 ORDER BY at DESC, id DESC LIMIT $2`, [merchantId, limit + 1])
    return { found, limit }
  }

  const store: Store = {
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
      if (closed) return
      closed = true
      await pool.end()
    },

    // connections

    async getConnection(merchantId) {
      const row = await one('SELECT * FROM connections WHERE merchant_id = $1', [merchantId])
      return row ? toConnection(row, codec) : null
    },

    async saveConnection(c) {
      await pool.query(
        `INSERT INTO connections (merchant_id, state, environment, org_id, user_id, username, instance_url,
            access_token_enc, refresh_token_enc, token_key_id, connected_at, updated_at)
          VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
          ON CONFLICT (merchant_id) DO UPDATE SET state = excluded.state, environment = excluded.environment,
            org_id = excluded.org_id, user_id = excluded.user_id, username = excluded.username, instance_url = excluded.instance_url,
            access_token_enc = excluded.access_token_enc, refresh_token_enc = excluded.refresh_token_enc,
            token_key_id = excluded.token_key_id, connected_at = excluded.connected_at, updated_at = excluded.updated_at`,
        [c.merchantId, c.state, c.environment, c.orgId, c.userId, c.username, c.instanceUrl,
          c.accessTokenEnc ?? null, c.refreshTokenEnc ?? null, c.tokenKeyId ?? null, c.connectedAt, c.updatedAt],
      )
    },

    async setConnectionState(merchantId, state) {
      await pool.query('UPDATE connections SET state = $2, updated_at = $3 WHERE merchant_id = $1', [merchantId, state, new Date()])
    },

    async updateConnectionTokens(merchantId, tokens) {
      await pool.query(
        'UPDATE connections SET access_token_enc = $2, refresh_token_enc = $3, token_key_id = $4, updated_at = $5 WHERE merchant_id = $1',
        [merchantId, tokens.accessTokenEnc, tokens.refreshTokenEnc ?? null, tokens.tokenKeyId, new Date()],
      )
    },

    async clearConnectionTokens(merchantId) {
      await pool.query(
        `UPDATE connections SET state = 'disconnected', access_token_enc = NULL, refresh_token_enc = NULL, token_key_id = NULL,
          updated_at = $2 WHERE merchant_id = $1`,
        [merchantId, new Date()],
      )
    },

    async listConnections() {
      return (await rows('SELECT * FROM connections ORDER BY merchant_id')).map((row) => toConnection(row, codec))
    },

    // oauth

    async saveOAuthState(s) {
      // Flows that were started and never finished would otherwise stay forever.
      await pool.query('DELETE FROM oauth_states WHERE expires_at <= $1', [new Date()])
      await pool.query(
        'INSERT INTO oauth_states (state, merchant_id, environment, code_verifier_enc, actor, expires_at) VALUES ($1, $2, $3, $4, $5, $6)',
        [s.state, s.merchantId, s.environment, s.codeVerifierEnc, s.actor, s.expiresAt],
      )
    },

    async takeOAuthState(state, now = new Date()) {
      const row = await one('DELETE FROM oauth_states WHERE state = $1 RETURNING *', [state])
      if (!row) return null
      const taken = toOAuthState(row, codec)
      return taken.expiresAt.getTime() > now.getTime() ? taken : null
    },

    // settings

    async getSettings(merchantId) {
      const row = await one('SELECT * FROM merchant_settings WHERE merchant_id = $1', [merchantId])
      return row ? toSettings(row, codec) : null
    },

    async saveSettings(merchantId, settings, expectedVersion) {
      const values = [merchantId, JSON.stringify(settings.import), JSON.stringify(settings.export), new Date()]
      let row: Row | undefined
      if (expectedVersion === undefined) {
        row = await one(
          `INSERT INTO merchant_settings (merchant_id, import_settings, export_settings, version, updated_at)
            VALUES ($1, $2::jsonb, $3::jsonb, 1, $4)
            ON CONFLICT (merchant_id) DO UPDATE SET import_settings = excluded.import_settings,
              export_settings = excluded.export_settings, version = merchant_settings.version + 1, updated_at = excluded.updated_at
            RETURNING *`,
          values,
        )
      } else if (expectedVersion === 0) {
        // Version 0 means "I saw no settings": only a first save may succeed.
        row = await one(
          `INSERT INTO merchant_settings (merchant_id, import_settings, export_settings, version, updated_at)
            VALUES ($1, $2::jsonb, $3::jsonb, 1, $4) ON CONFLICT (merchant_id) DO NOTHING RETURNING *`,
          values,
        )
      } else {
        row = await one(
          `UPDATE merchant_settings SET import_settings = $2::jsonb, export_settings = $3::jsonb, version = version + 1, updated_at = $4
            WHERE merchant_id = $1 AND version = $5 RETURNING *`,
          [...values, expectedVersion],
        )
      }
      if (!row) throw new AppError('store.conflict', `Settings of merchant ${merchantId} are no longer at version ${expectedVersion}`)
      return toSettings(row, codec)
    },

    async clearMerchantSyncState(merchantId) {
      await transaction(async (client) => {
        for (const table of ['record_links', 'field_states', 'replay_checkpoints', 'traces', 'record_errors']) {
          await client.query(`DELETE FROM ${table} WHERE merchant_id = $1`, [merchantId])
        }
      })
    },

    // replay checkpoints

    async getReplayId(merchantId, channel) {
      const row = await one('SELECT replay_id FROM replay_checkpoints WHERE merchant_id = $1 AND channel = $2', [merchantId, channel])
      return row ? Number(row.replay_id) : null
    },

    async saveReplayId(merchantId, channel, replayId, saveOptions) {
      await pool.query(
        `INSERT INTO replay_checkpoints (merchant_id, channel, replay_id, updated_at) VALUES ($1, $2, $3, $4)
          ON CONFLICT (merchant_id, channel) DO UPDATE SET replay_id = excluded.replay_id, updated_at = excluded.updated_at
          WHERE $5 OR excluded.replay_id > replay_checkpoints.replay_id`,
        [merchantId, channel, replayId, new Date(), saveOptions?.force === true],
      )
    },

    // record links

    async linkRecord(link) {
      await pool.query(
        `INSERT INTO record_links (merchant_id, record_id, sobject, user_id, email, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
          ON CONFLICT (merchant_id, record_id) DO UPDATE SET sobject = excluded.sobject, user_id = excluded.user_id,
            email = excluded.email, updated_at = excluded.updated_at`,
        [link.merchantId, link.recordId, link.sobject, link.userId, link.email ?? null, new Date()],
      )
    },

    async findLinkByRecord(merchantId, recordId) {
      const row = await one('SELECT * FROM record_links WHERE merchant_id = $1 AND record_id = $2', [merchantId, recordId])
      return row ? toRecordLink(row, codec) : null
    },

    async findLinkByUser(merchantId, userId) {
      const row = await one(
        'SELECT * FROM record_links WHERE merchant_id = $1 AND user_id = $2 ORDER BY updated_at DESC, record_id LIMIT 1',
        [merchantId, userId],
      )
      return row ? toRecordLink(row, codec) : null
    },

    async findLinksByUsers(merchantId, userIds) {
      if (userIds.length === 0) return []
      const found = await rows(
        'SELECT * FROM record_links WHERE merchant_id = $1 AND user_id = ANY($2::text[]) ORDER BY user_id, record_id',
        [merchantId, userIds],
      )
      return found.map((row) => toRecordLink(row, codec))
    },

    async forgetUser(merchantId, userId) {
      await transaction(async (client) => {
        const linked = 'SELECT record_id FROM record_links WHERE merchant_id = $1 AND user_id = $2'
        await client.query(`DELETE FROM field_states WHERE merchant_id = $1 AND record_id IN (${linked})`, [merchantId, userId])
        await client.query(`DELETE FROM traces WHERE merchant_id = $1 AND (user_id = $2 OR record_id IN (${linked}))`, [merchantId, userId])
        await client.query('DELETE FROM record_links WHERE merchant_id = $1 AND user_id = $2', [merchantId, userId])
      })
    },

    // field states

    async getFieldStates(merchantId, recordId) {
      const found = await rows('SELECT * FROM field_states WHERE merchant_id = $1 AND record_id = $2 ORDER BY field', [merchantId, recordId])
      return found.map((row) => toFieldState(row, codec))
    },

    async saveFieldStates(states) {
      if (states.length === 0) return []
      return transaction(async (client) => {
        const written = new Set<string>()
        for (const s of states) {
          const result = await client.query(
            `INSERT INTO field_states (merchant_id, record_id, field, value, changed_at, sequence, direction)
              VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)
              ON CONFLICT (merchant_id, record_id, field) DO UPDATE SET value = excluded.value, changed_at = excluded.changed_at,
                sequence = excluded.sequence, direction = excluded.direction
              WHERE (excluded.changed_at, excluded.sequence) > (field_states.changed_at, field_states.sequence)
              RETURNING field`,
            [s.merchantId, s.recordId, s.field, toJson(s.value ?? null), s.changedAt, s.sequence, s.direction],
          )
          if (result.rowCount) written.add(s.field)
        }
        return [...written]
      })
    },

    // record errors

    async recordError(e) {
      const at = new Date()
      const row = await one(
        `INSERT INTO record_errors (id, merchant_id, direction, record_id, user_id, email, code, message, payload, attempts, first_at, at)
          VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, 1, $10, $10)
          ON CONFLICT (merchant_id, direction, (coalesce(record_id, '')), (coalesce(user_id, '')), code) DO UPDATE SET
            attempts = record_errors.attempts + 1, message = excluded.message, payload = excluded.payload,
            email = coalesce(excluded.email, record_errors.email), at = excluded.at
          RETURNING *`,
        [newId(at.getTime()), e.merchantId, e.direction, e.recordId ?? null, e.userId ?? null, e.email ?? null, e.code, e.message, toJson(e.payload ?? null), at],
      )
      return toRecordError(row!, codec)
    },

    async listErrors(merchantId, pageOptions = {}) {
      const { found, limit } = await newestFirst('record_errors', merchantId, pageOptions)
      return toPage(found.map((row) => toRecordError(row, codec)), limit)
    },

    async getError(merchantId, id) {
      const row = await one('SELECT * FROM record_errors WHERE merchant_id = $1 AND id = $2', [merchantId, id])
      return row ? toRecordError(row, codec) : null
    },

    async deleteError(merchantId, id) {
      const result = await pool.query('DELETE FROM record_errors WHERE merchant_id = $1 AND id = $2', [merchantId, id])
      return (result.rowCount ?? 0) > 0
    },

    async countErrors(merchantId) {
      const row = await one('SELECT count(*) AS n FROM record_errors WHERE merchant_id = $1', [merchantId])
      return Number(row?.n ?? 0)
    },

    // job runs

    async claimJobRun(merchantId, kind, claimOptions) {
      // The partial unique index decides between racing claims: the loser inserts nothing.
      // Loop because the live run may finish between the insert and the read.
      for (let attempt = 0; attempt < 5; attempt++) {
        const at = new Date()
        const inserted = await one(
          `INSERT INTO job_runs (id, merchant_id, kind, status, dry_run, api_calls, created_at, updated_at)
            VALUES ($1, $2, $3, 'queued', $4, 0, $5, $5)
            ON CONFLICT (merchant_id, kind) WHERE status IN ('queued', 'running') DO NOTHING RETURNING *`,
          [newId(at.getTime()), merchantId, kind, claimOptions.dryRun, at],
        )
        if (inserted) return { claimed: true, run: toJobRun(inserted, codec) }
        const live = await one(
          `SELECT * FROM job_runs WHERE merchant_id = $1 AND kind = $2 AND status IN ('queued', 'running')`,
          [merchantId, kind],
        )
        if (live) return { claimed: false, running: toJobRun(live, codec) }
      }
      throw new AppError('store.busy', `Could not claim a ${kind} run for merchant ${merchantId}: runs keep changing`)
    },

    async updateJobRun(id, patch) {
      const assignments = jobRunAssignments(patch)
      const sets = assignments.map((a, i) => `${a.column} = $${i + 1}${a.type === 'json' ? '::jsonb' : ''}`)
      const values = assignments.map((a) => (a.type === 'json' ? toJson(a.value) : a.value))
      sets.push(`updated_at = $${values.length + 1}`)
      const row = await one(`UPDATE job_runs SET ${sets.join(', ')} WHERE id = $${values.length + 2} RETURNING *`, [...values, new Date(), id])
      if (!row) throw new AppError('not-found', `No job run ${id}`)
      return toJobRun(row, codec)
    },

    async getJobRun(merchantId, id) {
      const row = await one('SELECT * FROM job_runs WHERE merchant_id = $1 AND id = $2', [merchantId, id])
      return row ? toJobRun(row, codec) : null
    },

    async getLatestJobRun(merchantId, kind) {
      const row = await one(
        'SELECT * FROM job_runs WHERE merchant_id = $1 AND kind = $2 ORDER BY created_at DESC, id DESC LIMIT 1',
        [merchantId, kind],
      )
      return row ? toJobRun(row, codec) : null
    },

    // leases

    async acquireLease(name, owner, ttlMs, now = new Date()) {
      // One statement, so two instances racing for a free lease cannot both win.
      const result = await pool.query(
        `INSERT INTO leases (name, owner, expires_at) VALUES ($1, $2, $3)
          ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
          WHERE leases.owner = excluded.owner OR leases.expires_at <= $4`,
        [name, owner, new Date(now.getTime() + ttlMs), now],
      )
      return (result.rowCount ?? 0) > 0
    },

    async releaseLease(name, owner) {
      await pool.query('DELETE FROM leases WHERE name = $1 AND owner = $2', [name, owner])
    },

    // audit

    async appendAudit(entry) {
      const at = new Date()
      const row = await one(
        'INSERT INTO audit_log (id, merchant_id, actor, action, details, at) VALUES ($1, $2, $3, $4, $5::jsonb, $6) RETURNING *',
        [newId(at.getTime()), entry.merchantId, entry.actor, entry.action, toJson(entry.details ?? null), at],
      )
      return toAuditEntry(row!, codec)
    },

    async listAudit(merchantId, pageOptions = {}) {
      const { found, limit } = await newestFirst('audit_log', merchantId, pageOptions)
      return toPage(found.map((row) => toAuditEntry(row, codec)), limit)
    },

    // traces

    async appendTrace(entry) {
      await pool.query(
        `INSERT INTO traces (id, merchant_id, direction, record_id, user_id, email, outcome, details, at)
          VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)`,
        [newId(), entry.merchantId, entry.direction, entry.recordId ?? null, entry.userId ?? null, entry.email ?? null,
          entry.outcome, toJson(entry.details ?? null), entry.at ?? new Date()],
      )
    },

    async listTrace(merchantId, by, limit) {
      const filters = traceFilters(by)
      if (filters.length === 0) return []
      const where = filters.map((f, i) => `${f.column} = $${i + 2}`).join(' OR ')
      const found = await rows(
        `SELECT * FROM traces WHERE merchant_id = $1 AND (${where}) ORDER BY at DESC, id DESC LIMIT $${filters.length + 2}`,
        [merchantId, ...filters.map((f) => f.value), clampLimit(limit)],
      )
      return found.map((row) => toTraceEntry(row, codec))
    },
  }

  return withErrorMapping(store, mapPgError)
}
