/**
 * The SQLite store, on node:sqlite. Every call is synchronous and blocks the event loop, so
 * each one is a single short statement or a short transaction. The service and the CLI may
 * open the same file at once: WAL lets readers run beside the writer, and busy_timeout makes
 * a writer wait for the other process's write instead of failing.
 */
// sql`...` statements run SQL through node:sqlite's tag store; they are not unused values.
/* eslint @typescript-eslint/no-unused-expressions: ["error", { "allowTaggedTemplates": true }] */
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite'
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

export interface SqliteStoreOptions {
  /** File path, or `:memory:`. The parent folder is created when missing. */
  path: string
  /** How long a write waits for another connection's write lock. Default 5000 ms. */
  busyTimeoutMs?: number
}

const codec: Codec = {
  date: (value) => new Date(Number(value)),
  json: (value) => (value === null || value === undefined ? null : JSON.parse(String(value))),
}

const SQLITE_BUSY = 5
const SQLITE_LOCKED = 6
// Only uniqueness is a conflict; a CHECK or NOT NULL failure is a bug and stays as it is.
const SQLITE_CONSTRAINT_PRIMARYKEY = 1555
const SQLITE_CONSTRAINT_UNIQUE = 2067
// Errors that say the file itself cannot be used: full disk, I/O, corrupt, not a database...
const SQLITE_UNAVAILABLE = new Set([8 /* READONLY */, 10 /* IOERR */, 11 /* CORRUPT */, 13 /* FULL */, 14 /* CANTOPEN */, 26 /* NOTADB */])

function mapSqliteError(err: unknown): unknown {
  if (err instanceof AppError) return err
  const e = err as { code?: unknown; errcode?: unknown; message?: unknown }
  if (e.code === 'ERR_INVALID_STATE') return new AppError('store.unavailable', 'State store is closed', { cause: err })
  if (e.code !== 'ERR_SQLITE_ERROR' || typeof e.errcode !== 'number') return err
  // Extended result codes carry the primary code in the low byte.
  const primary = e.errcode & 0xff
  const message = `State store: ${String(e.message)}`
  if (primary === SQLITE_BUSY || primary === SQLITE_LOCKED) return new AppError('store.busy', message, { cause: err })
  if (e.errcode === SQLITE_CONSTRAINT_PRIMARYKEY || e.errcode === SQLITE_CONSTRAINT_UNIQUE) return new AppError('store.conflict', message, { cause: err })
  if (SQLITE_UNAVAILABLE.has(primary)) return new AppError('store.unavailable', message, { cause: err })
  return err
}

function openDatabase(path: string, busyTimeoutMs: number): DatabaseSync {
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
    // `timeout` is SQLite's busy_timeout.
    const db = new DatabaseSync(path, { timeout: busyTimeoutMs, enableForeignKeyConstraints: true })
    try {
      db.exec('PRAGMA journal_mode = WAL')
      db.exec('PRAGMA foreign_keys = ON')
      // In WAL mode NORMAL survives a crash of the process; only a power loss can drop the last commits.
      db.exec('PRAGMA synchronous = NORMAL')
    } catch (err) {
      db.close()
      throw err
    }
    return db
  } catch (err) {
    const mapped = mapSqliteError(err)
    if (mapped instanceof AppError) throw mapped
    throw new AppError('store.unavailable', `Cannot open the SQLite state store at ${path}`, { cause: err })
  }
}

const bool = (value: boolean): number => (value ? 1 : 0)
const ms = (date: Date): number => date.getTime()
const nullable = (value: string | null | undefined): string | null => value ?? null

export function createSqliteStore(options: SqliteStoreOptions): Store {
  const db = openDatabase(options.path, options.busyTimeoutMs ?? 5000)
  // Tagged templates bind every ${value} as a parameter and cache the prepared statement.
  const sql = db.createTagStore(200)
  const prepared = new Map<string, StatementSync>()
  // For the few statements whose text is built at run time (patches, filters, paging).
  const prepare = (text: string): StatementSync => {
    let statement = prepared.get(text)
    if (!statement) prepared.set(text, (statement = db.prepare(text)))
    return statement
  }

  // IMMEDIATE takes the write lock up front: a transaction that reads and later writes
  // would otherwise fail with SQLITE_BUSY at once, instead of waiting, when another
  // process writes in between.
  function transaction<T>(fn: () => T): T {
    db.exec('BEGIN IMMEDIATE')
    try {
      const result = fn()
      db.exec('COMMIT')
      return result
    } catch (err) {
      if (db.isTransaction) db.exec('ROLLBACK')
      throw err
    }
  }

  function applyMigration(migration: Migration): boolean {
    return transaction(() => {
      // Re-checked under the write lock: another process may have applied it meanwhile.
      if (sql.get`SELECT 1 FROM schema_migrations WHERE version = ${migration.version}`) return false
      db.exec(migration.sql)
      sql.run`INSERT INTO schema_migrations (version, name, applied_at) VALUES (${migration.version}, ${migration.name}, ${Date.now()})`
      return true
    })
  }

  function newestFirst(table: 'record_errors' | 'audit_log', merchantId: string, options: PageOptions): { rows: Row[]; limit: number } {
    const limit = clampLimit(options.limit)
    const cursor = decodeCursor(options.cursor)
    const after = cursor ? 'AND (at, id) < (?, ?)' : ''
    const params: SQLInputValue[] = cursor ? [merchantId, ms(cursor.at), cursor.id, limit + 1] : [merchantId, limit + 1]
    const rows = prepare(`SELECT * FROM ${table} WHERE merchant_id = ? ${after} ORDER BY at DESC, id DESC LIMIT ?`).all(...params)
    return { rows, limit }
  }

  const store: Store = {
    backend: 'sqlite',

    async migrate() {
      const migrations = await loadMigrations('sqlite')
      const applied: number[] = []
      let current: Migration | undefined
      try {
        transaction(() => db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT'))
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

    // connections

    async getConnection(merchantId) {
      const row = sql.get`SELECT * FROM connections WHERE merchant_id = ${merchantId}`
      return row ? toConnection(row, codec) : null
    },

    async saveConnection(c) {
      sql.run`INSERT INTO connections (merchant_id, state, environment, org_id, user_id, username, instance_url,
          access_token_enc, refresh_token_enc, token_key_id, connected_at, updated_at)
        VALUES (${c.merchantId}, ${c.state}, ${c.environment}, ${c.orgId}, ${c.userId}, ${c.username}, ${c.instanceUrl},
          ${nullable(c.accessTokenEnc)}, ${nullable(c.refreshTokenEnc)}, ${nullable(c.tokenKeyId)}, ${ms(c.connectedAt)}, ${ms(c.updatedAt)})
        ON CONFLICT (merchant_id) DO UPDATE SET state = excluded.state, environment = excluded.environment,
          org_id = excluded.org_id, user_id = excluded.user_id, username = excluded.username, instance_url = excluded.instance_url,
          access_token_enc = excluded.access_token_enc, refresh_token_enc = excluded.refresh_token_enc,
          token_key_id = excluded.token_key_id, connected_at = excluded.connected_at, updated_at = excluded.updated_at`
    },

    async setConnectionState(merchantId, state) {
      sql.run`UPDATE connections SET state = ${state}, updated_at = ${Date.now()} WHERE merchant_id = ${merchantId}`
    },

    async updateConnectionTokens(merchantId, tokens) {
      sql.run`UPDATE connections SET access_token_enc = ${tokens.accessTokenEnc}, refresh_token_enc = ${nullable(tokens.refreshTokenEnc)},
          token_key_id = ${tokens.tokenKeyId}, updated_at = ${Date.now()}
        WHERE merchant_id = ${merchantId}`
    },

    async clearConnectionTokens(merchantId) {
      sql.run`UPDATE connections SET state = 'disconnected', access_token_enc = NULL, refresh_token_enc = NULL,
          token_key_id = NULL, updated_at = ${Date.now()}
        WHERE merchant_id = ${merchantId}`
    },

    async listConnections() {
      return sql.all`SELECT * FROM connections ORDER BY merchant_id`.map((row) => toConnection(row, codec))
    },

    // oauth

    async saveOAuthState(s) {
      // Flows that were started and never finished would otherwise stay forever.
      sql.run`DELETE FROM oauth_states WHERE expires_at <= ${Date.now()}`
      sql.run`INSERT INTO oauth_states (state, merchant_id, environment, code_verifier_enc, actor, expires_at)
        VALUES (${s.state}, ${s.merchantId}, ${s.environment}, ${s.codeVerifierEnc}, ${s.actor}, ${ms(s.expiresAt)})`
    },

    async takeOAuthState(state, now = new Date()) {
      const row = sql.get`DELETE FROM oauth_states WHERE state = ${state} RETURNING *`
      if (!row) return null
      const taken = toOAuthState(row, codec)
      return taken.expiresAt.getTime() > now.getTime() ? taken : null
    },

    // settings

    async getSettings(merchantId) {
      const row = sql.get`SELECT * FROM merchant_settings WHERE merchant_id = ${merchantId}`
      return row ? toSettings(row, codec) : null
    },

    async saveSettings(merchantId, settings, expectedVersion) {
      const imp = JSON.stringify(settings.import)
      const exp = JSON.stringify(settings.export)
      const at = Date.now()
      let row: Row | undefined
      if (expectedVersion === undefined) {
        row = sql.get`INSERT INTO merchant_settings (merchant_id, import_settings, export_settings, version, updated_at)
          VALUES (${merchantId}, ${imp}, ${exp}, 1, ${at})
          ON CONFLICT (merchant_id) DO UPDATE SET import_settings = excluded.import_settings,
            export_settings = excluded.export_settings, version = merchant_settings.version + 1, updated_at = excluded.updated_at
          RETURNING *`
      } else if (expectedVersion === 0) {
        // Version 0 means "I saw no settings": only a first save may succeed.
        row = sql.get`INSERT INTO merchant_settings (merchant_id, import_settings, export_settings, version, updated_at)
          VALUES (${merchantId}, ${imp}, ${exp}, 1, ${at})
          ON CONFLICT (merchant_id) DO NOTHING RETURNING *`
      } else {
        row = sql.get`UPDATE merchant_settings SET import_settings = ${imp}, export_settings = ${exp},
            version = version + 1, updated_at = ${at}
          WHERE merchant_id = ${merchantId} AND version = ${expectedVersion} RETURNING *`
      }
      if (!row) throw new AppError('store.conflict', `Settings of merchant ${merchantId} are no longer at version ${expectedVersion}`)
      return toSettings(row, codec)
    },

    async clearMerchantSyncState(merchantId) {
      transaction(() => {
        sql.run`DELETE FROM record_links WHERE merchant_id = ${merchantId}`
        sql.run`DELETE FROM field_states WHERE merchant_id = ${merchantId}`
        sql.run`DELETE FROM replay_checkpoints WHERE merchant_id = ${merchantId}`
        sql.run`DELETE FROM traces WHERE merchant_id = ${merchantId}`
        sql.run`DELETE FROM record_errors WHERE merchant_id = ${merchantId}`
      })
    },

    // replay checkpoints

    async getReplayId(merchantId, channel) {
      const row = sql.get`SELECT replay_id FROM replay_checkpoints WHERE merchant_id = ${merchantId} AND channel = ${channel}`
      return row ? Number(row.replay_id) : null
    },

    async saveReplayId(merchantId, channel, replayId, saveOptions) {
      sql.run`INSERT INTO replay_checkpoints (merchant_id, channel, replay_id, updated_at)
        VALUES (${merchantId}, ${channel}, ${replayId}, ${Date.now()})
        ON CONFLICT (merchant_id, channel) DO UPDATE SET replay_id = excluded.replay_id, updated_at = excluded.updated_at
        WHERE ${bool(saveOptions?.force === true)} OR excluded.replay_id > replay_checkpoints.replay_id`
    },

    // record links

    async linkRecord(link) {
      sql.run`INSERT INTO record_links (merchant_id, record_id, sobject, user_id, email, updated_at)
        VALUES (${link.merchantId}, ${link.recordId}, ${link.sobject}, ${link.userId}, ${nullable(link.email)}, ${Date.now()})
        ON CONFLICT (merchant_id, record_id) DO UPDATE SET sobject = excluded.sobject, user_id = excluded.user_id,
          email = excluded.email, updated_at = excluded.updated_at`
    },

    async findLinkByRecord(merchantId, recordId) {
      const row = sql.get`SELECT * FROM record_links WHERE merchant_id = ${merchantId} AND record_id = ${recordId}`
      return row ? toRecordLink(row, codec) : null
    },

    async findLinkByUser(merchantId, userId) {
      const row = sql.get`SELECT * FROM record_links WHERE merchant_id = ${merchantId} AND user_id = ${userId}
        ORDER BY updated_at DESC, record_id LIMIT 1`
      return row ? toRecordLink(row, codec) : null
    },

    async findLinksByUsers(merchantId, userIds) {
      if (userIds.length === 0) return []
      // One statement for any number of ids: the list travels as a JSON array.
      return sql.all`SELECT * FROM record_links WHERE merchant_id = ${merchantId}
          AND user_id IN (SELECT value FROM json_each(${JSON.stringify(userIds)}))
        ORDER BY user_id, record_id`.map((row) => toRecordLink(row, codec))
    },

    async forgetUser(merchantId, userId) {
      transaction(() => {
        sql.run`DELETE FROM field_states WHERE merchant_id = ${merchantId}
          AND record_id IN (SELECT record_id FROM record_links WHERE merchant_id = ${merchantId} AND user_id = ${userId})`
        sql.run`DELETE FROM traces WHERE merchant_id = ${merchantId} AND (user_id = ${userId}
          OR record_id IN (SELECT record_id FROM record_links WHERE merchant_id = ${merchantId} AND user_id = ${userId}))`
        sql.run`DELETE FROM record_links WHERE merchant_id = ${merchantId} AND user_id = ${userId}`
      })
    },

    // field states

    async getFieldStates(merchantId, recordId) {
      return sql.all`SELECT * FROM field_states WHERE merchant_id = ${merchantId} AND record_id = ${recordId} ORDER BY field`
        .map((row) => toFieldState(row, codec))
    },

    async saveFieldStates(states) {
      if (states.length === 0) return []
      const written = new Set<string>()
      transaction(() => {
        for (const s of states) {
          const row = sql.get`INSERT INTO field_states (merchant_id, record_id, field, value, changed_at, sequence, direction)
            VALUES (${s.merchantId}, ${s.recordId}, ${s.field}, ${toJson(s.value ?? null)}, ${ms(s.changedAt)}, ${s.sequence}, ${s.direction})
            ON CONFLICT (merchant_id, record_id, field) DO UPDATE SET value = excluded.value, changed_at = excluded.changed_at,
              sequence = excluded.sequence, direction = excluded.direction
            WHERE (excluded.changed_at, excluded.sequence) > (field_states.changed_at, field_states.sequence)
            RETURNING field`
          if (row) written.add(String(row.field))
        }
      })
      return [...written]
    },

    // record errors

    async recordError(e) {
      const at = Date.now()
      const row = sql.get`INSERT INTO record_errors (id, merchant_id, direction, record_id, user_id, email, code, message, payload, attempts, first_at, at)
        VALUES (${newId(at)}, ${e.merchantId}, ${e.direction}, ${nullable(e.recordId)}, ${nullable(e.userId)}, ${nullable(e.email)},
          ${e.code}, ${e.message}, ${toJson(e.payload ?? null)}, 1, ${at}, ${at})
        ON CONFLICT (merchant_id, direction, coalesce(record_id, ''), coalesce(user_id, ''), code) DO UPDATE SET
          attempts = record_errors.attempts + 1, message = excluded.message, payload = excluded.payload,
          email = coalesce(excluded.email, record_errors.email), at = excluded.at
        RETURNING *`
      return toRecordError(row!, codec)
    },

    async listErrors(merchantId, pageOptions = {}) {
      const { rows, limit } = newestFirst('record_errors', merchantId, pageOptions)
      return toPage(rows.map((row) => toRecordError(row, codec)), limit)
    },

    async getError(merchantId, id) {
      const row = sql.get`SELECT * FROM record_errors WHERE merchant_id = ${merchantId} AND id = ${id}`
      return row ? toRecordError(row, codec) : null
    },

    async deleteError(merchantId, id) {
      return sql.run`DELETE FROM record_errors WHERE merchant_id = ${merchantId} AND id = ${id}`.changes > 0
    },

    async countErrors(merchantId) {
      return Number(sql.get`SELECT count(*) AS n FROM record_errors WHERE merchant_id = ${merchantId}`?.n ?? 0)
    },

    // job runs

    async claimJobRun(merchantId, kind, claimOptions) {
      return transaction(() => {
        const live = sql.get`SELECT * FROM job_runs WHERE merchant_id = ${merchantId} AND kind = ${kind} AND status IN ('queued', 'running')`
        if (live) return { claimed: false as const, running: toJobRun(live, codec) }
        const at = Date.now()
        const row = sql.get`INSERT INTO job_runs (id, merchant_id, kind, status, dry_run, api_calls, created_at, updated_at)
          VALUES (${newId(at)}, ${merchantId}, ${kind}, 'queued', ${bool(claimOptions.dryRun)}, 0, ${at}, ${at}) RETURNING *`
        return { claimed: true as const, run: toJobRun(row!, codec) }
      })
    },

    async updateJobRun(id, patch) {
      const assignments = jobRunAssignments(patch)
      const sets = [...assignments.map((a) => `${a.column} = ?`), 'updated_at = ?']
      const values = assignments.map((a): SQLInputValue => {
        if (a.type === 'json') return toJson(a.value)
        if (a.type === 'date') return a.value === null ? null : ms(a.value as Date)
        return a.value as SQLInputValue
      })
      const row = prepare(`UPDATE job_runs SET ${sets.join(', ')} WHERE id = ? RETURNING *`).get(...values, Date.now(), id)
      if (!row) throw new AppError('not-found', `No job run ${id}`)
      return toJobRun(row, codec)
    },

    async getJobRun(merchantId, id) {
      const row = sql.get`SELECT * FROM job_runs WHERE merchant_id = ${merchantId} AND id = ${id}`
      return row ? toJobRun(row, codec) : null
    },

    async getLatestJobRun(merchantId, kind) {
      const row = sql.get`SELECT * FROM job_runs WHERE merchant_id = ${merchantId} AND kind = ${kind}
        ORDER BY created_at DESC, id DESC LIMIT 1`
      return row ? toJobRun(row, codec) : null
    },

    // leases

    async acquireLease(name, owner, ttlMs, now = new Date()) {
      // One statement, so two instances racing for a free lease cannot both win.
      const result = sql.run`INSERT INTO leases (name, owner, expires_at) VALUES (${name}, ${owner}, ${ms(now) + ttlMs})
        ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
        WHERE leases.owner = excluded.owner OR leases.expires_at <= ${ms(now)}`
      return result.changes > 0
    },

    async releaseLease(name, owner) {
      sql.run`DELETE FROM leases WHERE name = ${name} AND owner = ${owner}`
    },

    // audit

    async appendAudit(entry) {
      const at = Date.now()
      const row = sql.get`INSERT INTO audit_log (id, merchant_id, actor, action, details, at)
        VALUES (${newId(at)}, ${entry.merchantId}, ${entry.actor}, ${entry.action}, ${toJson(entry.details ?? null)}, ${at}) RETURNING *`
      return toAuditEntry(row!, codec)
    },

    async listAudit(merchantId, pageOptions = {}) {
      const { rows, limit } = newestFirst('audit_log', merchantId, pageOptions)
      return toPage(rows.map((row) => toAuditEntry(row, codec)), limit)
    },

    // traces

    async appendTrace(entry) {
      const at = entry.at ?? new Date()
      sql.run`INSERT INTO traces (id, merchant_id, direction, record_id, user_id, email, outcome, details, at)
        VALUES (${newId()}, ${entry.merchantId}, ${entry.direction}, ${nullable(entry.recordId)}, ${nullable(entry.userId)},
          ${nullable(entry.email)}, ${entry.outcome}, ${toJson(entry.details ?? null)}, ${ms(at)})`
    },

    async listTrace(merchantId, by, limit) {
      const filters = traceFilters(by)
      if (filters.length === 0) return []
      const where = filters.map((f) => `${f.column} = ?`).join(' OR ')
      return prepare(`SELECT * FROM traces WHERE merchant_id = ? AND (${where}) ORDER BY at DESC, id DESC LIMIT ?`)
        .all(merchantId, ...filters.map((f) => f.value), clampLimit(limit))
        .map((row) => toTraceEntry(row, codec))
    },
  }

  return withErrorMapping(store, mapSqliteError)
}
