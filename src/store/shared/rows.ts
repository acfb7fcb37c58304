/** Row mapping both backends share: database rows in, domain objects out. */
import type {
  AuditEntry,
  Connection,
  ExportPause,
  ExportVersion,
  FieldState,
  JobRun,
  LeaseInfo,
  MerchantSettings,
  OAuthState,
  ParkedChange,
  RecordError,
  RecordLink,
  ReplayRequest,
  SettingsChange,
  SyncHealth,
  TraceEntry,
} from '../types/index.ts'

export type Row = Record<string, unknown>

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
    changeSeq: num(r.change_seq),
    updatedAt: c.date(r.updated_at),
  }
}

export function toSettingsChange(r: Row): SettingsChange {
  return { merchantId: str(r.merchant_id), version: num(r.version), changeSeq: num(r.change_seq) }
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

export function toExportVersion(r: Row, c: Codec): ExportVersion {
  return {
    merchantId: str(r.merchant_id),
    userId: str(r.user_id),
    property: str(r.property),
    version: num(r.version),
    value: c.json(r.value),
    recordId: strOrNull(r.record_id),
    updatedAt: c.date(r.updated_at),
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
    resolvedAt: dateOrNull(c, r.resolved_at),
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
    owner: strOrNull(r.owner),
    heartbeatAt: dateOrNull(c, r.heartbeat_at),
    createdAt: c.date(r.created_at),
    startedAt: dateOrNull(c, r.started_at),
    finishedAt: dateOrNull(c, r.finished_at),
    updatedAt: c.date(r.updated_at),
  }
}

export function toLeaseInfo(r: Row, c: Codec): LeaseInfo {
  return { name: str(r.name), owner: str(r.owner), fence: num(r.fence), expiresAt: c.date(r.expires_at), held: Boolean(r.held) }
}

export function toReplayRequest(r: Row, c: Codec): ReplayRequest {
  return { merchantId: str(r.merchant_id), channel: str(r.channel), replayId: num(r.replay_id), requestedAt: c.date(r.requested_at) }
}

export function toParkedChange(r: Row, c: Codec): ParkedChange {
  return {
    key: str(r.key),
    seq: num(r.seq),
    position: num(r.position),
    properties: record(c, r.properties) as ParkedChange['properties'],
    parkedAt: c.date(r.parked_at),
    updatedAt: c.date(r.updated_at),
  }
}

export function toExportPause(r: Row, c: Codec): ExportPause {
  return { reason: str(r.reason), until: dateOrNull(c, r.until), since: c.date(r.since) }
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

export function toSyncHealth(r: Row, c: Codec): SyncHealth {
  return {
    merchantId: str(r.merchant_id),
    cdc: str(r.cdc_state) as SyncHealth['cdc'],
    cdcError: (c.json(r.cdc_error) ?? null) as SyncHealth['cdcError'],
    cdcSince: dateOrNull(c, r.cdc_since),
    lastEventAt: dateOrNull(c, r.last_event_at),
    lastImportAt: dateOrNull(c, r.last_import_at),
  }
}
