/**
 * Pure helpers both store backends share: ids, cursors, limits, row mapping, migration
 * files and error wrapping. Nothing here talks to a database.
 */
import { randomBytes } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { AppError } from '../errors.ts'
import type { AuditEntry, Backend, Connection, FieldState, JobRun, JobRunPatch, MerchantSettings, OAuthState, Page, RecordError, RecordLink, TraceEntry } from './types.ts'

export type Row = Record<string, unknown>

// ---------------------------------------------------------------------------------------
// ids

let lastMs = 0
let sequence = 0

/**
 * A UUIDv7 whose 12-bit rand_a field is a per-process counter, so ids made in the same
 * millisecond still sort in creation order: newest-first pages then follow insertion order
 * even when timestamps tie.
 */
export function newId(nowMs: number = Date.now()): string {
  if (nowMs > lastMs) {
    lastMs = nowMs
    sequence = 0
  } else if (++sequence > 0xfff) {
    // Counter exhausted (or the clock went back): borrow the next millisecond.
    lastMs++
    sequence = 0
  }
  const bytes = randomBytes(16)
  bytes.writeUIntBE(lastMs, 0, 6)
  bytes[6] = 0x70 | (sequence >> 8)
  bytes[7] = sequence & 0xff
  bytes[8] = 0x80 | (bytes[8]! & 0x3f)
  const hex = bytes.toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

// ---------------------------------------------------------------------------------------
// paging

export const DEFAULT_LIMIT = 50
export const MAX_LIMIT = 1000

/** Clamp a requested page size to 1..1000; missing or not a number means the default. */
export function clampLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return DEFAULT_LIMIT
  return Math.min(MAX_LIMIT, Math.max(1, Math.trunc(limit)))
}

export interface Cursor {
  at: Date
  id: string
}

/** Opaque to clients: base64url of [epoch ms, id], the sort key of the last row served. */
export function encodeCursor(at: Date, id: string): string {
  return Buffer.from(JSON.stringify([at.getTime(), id])).toString('base64url')
}

/** Parse a client's cursor; anything we did not make is a `request.invalid`. */
export function decodeCursor(cursor: string | null | undefined): Cursor | null {
  if (cursor === undefined || cursor === null || cursor === '') return null
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch (cause) {
    throw new AppError('request.invalid', 'Invalid page cursor', { field: 'cursor', cause })
  }
  if (!Array.isArray(parsed) || parsed.length !== 2 || !Number.isSafeInteger(parsed[0]) || typeof parsed[1] !== 'string') {
    throw new AppError('request.invalid', 'Invalid page cursor', { field: 'cursor' })
  }
  return { at: new Date(parsed[0] as number), id: parsed[1] }
}

/**
 * Backends fetch `limit + 1` rows; the extra row only tells whether another page exists,
 * which saves a count query.
 */
export function toPage<T extends { id: string; at: Date }>(items: T[], limit: number): Page<T> {
  if (items.length <= limit) return { data: items, nextCursor: null }
  const data = items.slice(0, limit)
  const last = data[data.length - 1]!
  return { data, nextCursor: encodeCursor(last.at, last.id) }
}

// ---------------------------------------------------------------------------------------
// row mapping

/** How a backend's driver hands back timestamps and JSON columns. */
export interface Codec {
  date(value: unknown): Date
  json(value: unknown): unknown
}

/** JSON text for a JSON column; undefined becomes SQL NULL, which reads back as null. */
export function toJson(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value)
}

const str = (value: unknown): string => String(value)
const strOrNull = (value: unknown): string | null => (value === null || value === undefined ? null : String(value))
// PostgreSQL bigint and count(*) arrive as strings; SQLite integers as numbers.
const num = (value: unknown): number => Number(value)
const dateOrNull = (c: Codec, value: unknown): Date | null => (value === null || value === undefined ? null : c.date(value))
const record = (c: Codec, value: unknown): Record<string, unknown> => (c.json(value) ?? {}) as Record<string, unknown>

export function toConnection(r: Row, c: Codec): Connection {
  return {
    merchantId: str(r.merchant_id),
    state: str(r.state) as Connection['state'],
    environment: str(r.environment) as Connection['environment'],
    orgId: str(r.org_id),
    userId: str(r.user_id),
    username: str(r.username),
    instanceUrl: str(r.instance_url),
    accessTokenEnc: strOrNull(r.access_token_enc),
    refreshTokenEnc: strOrNull(r.refresh_token_enc),
    tokenKeyId: strOrNull(r.token_key_id),
    connectedAt: c.date(r.connected_at),
    updatedAt: c.date(r.updated_at),
  }
}

export function toOAuthState(r: Row, c: Codec): OAuthState {
  return {
    state: str(r.state),
    merchantId: str(r.merchant_id),
    environment: str(r.environment) as OAuthState['environment'],
    codeVerifierEnc: str(r.code_verifier_enc),
    actor: str(r.actor),
    expiresAt: c.date(r.expires_at),
  }
}

export function toSettings(r: Row, c: Codec): MerchantSettings {
  return {
    merchantId: str(r.merchant_id),
    import: record(c, r.import_settings),
    export: record(c, r.export_settings),
    version: num(r.version),
    updatedAt: c.date(r.updated_at),
  }
}

export function toRecordLink(r: Row, c: Codec): RecordLink {
  return {
    merchantId: str(r.merchant_id),
    sobject: str(r.sobject),
    recordId: str(r.record_id),
    userId: str(r.user_id),
    email: strOrNull(r.email),
    updatedAt: c.date(r.updated_at),
  }
}

export function toFieldState(r: Row, c: Codec): FieldState {
  return {
    merchantId: str(r.merchant_id),
    recordId: str(r.record_id),
    field: str(r.field),
    value: c.json(r.value),
    changedAt: c.date(r.changed_at),
    sequence: num(r.sequence),
    direction: str(r.direction) as FieldState['direction'],
  }
}

export function toRecordError(r: Row, c: Codec): RecordError {
  return {
    id: str(r.id),
    merchantId: str(r.merchant_id),
    direction: str(r.direction) as RecordError['direction'],
    recordId: strOrNull(r.record_id),
    userId: strOrNull(r.user_id),
    email: strOrNull(r.email),
    code: str(r.code),
    message: str(r.message),
    payload: c.json(r.payload),
    attempts: num(r.attempts),
    firstAt: c.date(r.first_at),
    at: c.date(r.at),
  }
}

export function toJobRun(r: Row, c: Codec): JobRun {
  return {
    id: str(r.id),
    merchantId: str(r.merchant_id),
    kind: str(r.kind),
    status: str(r.status) as JobRun['status'],
    dryRun: Boolean(r.dry_run),
    phase: strOrNull(r.phase),
    progress: c.json(r.progress),
    counts: c.json(r.counts),
    samples: c.json(r.samples),
    checkpoint: c.json(r.checkpoint),
    apiCalls: num(r.api_calls),
    error: strOrNull(r.error),
    createdAt: c.date(r.created_at),
    startedAt: dateOrNull(c, r.started_at),
    finishedAt: dateOrNull(c, r.finished_at),
    updatedAt: c.date(r.updated_at),
  }
}

export function toAuditEntry(r: Row, c: Codec): AuditEntry {
  return {
    id: str(r.id),
    merchantId: str(r.merchant_id),
    actor: str(r.actor),
    action: str(r.action),
    details: c.json(r.details),
    at: c.date(r.at),
  }
}

export function toTraceEntry(r: Row, c: Codec): TraceEntry {
  return {
    id: str(r.id),
    merchantId: str(r.merchant_id),
    direction: str(r.direction) as TraceEntry['direction'],
    recordId: strOrNull(r.record_id),
    userId: strOrNull(r.user_id),
    email: strOrNull(r.email),
    outcome: str(r.outcome),
    details: c.json(r.details),
    at: c.date(r.at),
  }
}

// ---------------------------------------------------------------------------------------
// job run patches and trace filters

type ColumnType = 'json' | 'date' | 'value'

const JOB_RUN_COLUMNS: Record<keyof JobRunPatch, { column: string; type: ColumnType }> = {
  status: { column: 'status', type: 'value' },
  phase: { column: 'phase', type: 'value' },
  progress: { column: 'progress', type: 'json' },
  counts: { column: 'counts', type: 'json' },
  samples: { column: 'samples', type: 'json' },
  checkpoint: { column: 'checkpoint', type: 'json' },
  apiCalls: { column: 'api_calls', type: 'value' },
  error: { column: 'error', type: 'value' },
  startedAt: { column: 'started_at', type: 'date' },
  finishedAt: { column: 'finished_at', type: 'date' },
}

/**
 * The columns a patch sets, in a fixed order so equal key sets give equal SQL. Keys that
 * are present but undefined are skipped; null clears.
 */
export function jobRunAssignments(patch: JobRunPatch): Array<{ column: string; type: ColumnType; value: unknown }> {
  const out: Array<{ column: string; type: ColumnType; value: unknown }> = []
  for (const [key, spec] of Object.entries(JOB_RUN_COLUMNS) as Array<[keyof JobRunPatch, { column: string; type: ColumnType }]>) {
    if (patch[key] !== undefined) out.push({ ...spec, value: patch[key] })
  }
  return out
}

/** listTrace matches entries about any of the given keys; none given matches nothing. */
export function traceFilters(by: { userId?: string; recordId?: string; email?: string }): Array<{ column: string; value: string }> {
  const out: Array<{ column: string; value: string }> = []
  if (by.userId !== undefined) out.push({ column: 'user_id', value: by.userId })
  if (by.recordId !== undefined) out.push({ column: 'record_id', value: by.recordId })
  if (by.email !== undefined) out.push({ column: 'email', value: by.email })
  return out
}

// ---------------------------------------------------------------------------------------
// migrations

export interface Migration {
  version: number
  name: string
  sql: string
}

/** The numbered `NNN-name.sql` files of one backend, in order. */
export async function loadMigrations(backend: Backend): Promise<Migration[]> {
  const dir = new URL(`./migrations/${backend}/`, import.meta.url)
  const migrations: Migration[] = []
  for (const file of await readdir(dir)) {
    const match = /^(\d+)-(.+)\.sql$/.exec(file)
    if (!match) continue
    migrations.push({ version: Number(match[1]), name: match[2]!, sql: await readFile(new URL(file, dir), 'utf8') })
  }
  migrations.sort((a, b) => a.version - b.version)
  for (let i = 1; i < migrations.length; i++) {
    if (migrations[i]!.version === migrations[i - 1]!.version) {
      throw new AppError('store.migration-failed', `Two ${backend} migrations are numbered ${migrations[i]!.version}`)
    }
  }
  return migrations
}

// ---------------------------------------------------------------------------------------
// errors

/**
 * Wrap every method of `impl` so whatever a driver throws leaves the store as an AppError
 * (through `mapError`), without a try/catch in each method.
 */
export function withErrorMapping<T extends object>(impl: T, mapError: (err: unknown) => unknown): T {
  const wrapped: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(impl)) {
    if (typeof value !== 'function') {
      wrapped[key] = value
      continue
    }
    wrapped[key] = async (...args: unknown[]) => {
      try {
        return await (value as (...a: unknown[]) => unknown).apply(impl, args)
      } catch (err) {
        throw mapError(err)
      }
    }
  }
  return wrapped as T
}

/**
 * Errors raised while migrating become `store.migration-failed`, except when the store
 * itself was unreachable or busy: those are worth a retry and keep their code.
 */
export function migrationError(err: unknown, migration: Migration | undefined): AppError {
  if (err instanceof AppError && (err.code === 'store.unavailable' || err.code === 'store.busy')) return err
  const what = migration ? `migration ${migration.version}-${migration.name}` : 'migration bookkeeping'
  return new AppError('store.migration-failed', `State store ${what} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
}
