/**
 * The state store: a small domain interface, not a generic SQL layer. Two implementations
 * (SQLite through node:sqlite, PostgreSQL through pg) pass one contract suite
 * (test/store/contract.ts). Everything is keyed by merchant, never by Salesforce org alone.
 *
 * Secrets never reach the store in clear: token fields hold ciphertext made by the caller.
 */

export type Backend = 'sqlite' | 'postgres'

export type ConnectionState = 'connected' | 'needs-reauth' | 'disconnected'
export type SalesforceEnvironment = 'production' | 'sandbox'

/** A merchant's Salesforce connection. Token fields are ciphertext (with their key id). */
export interface Connection {
  merchantId: string
  state: ConnectionState
  environment: SalesforceEnvironment
  orgId: string
  userId: string
  username: string
  instanceUrl: string
  /** Encrypted access token, or null once deleted (disconnect). */
  accessTokenEnc: string | null
  /** Encrypted refresh token, or null once deleted (disconnect). */
  refreshTokenEnc: string | null
  /** Id of the encryption key that produced the two ciphertexts. */
  tokenKeyId: string | null
  connectedAt: Date
  updatedAt: Date
}

/** A pending OAuth web-server flow: one-time, bound to a merchant, short-lived. */
export interface OAuthState {
  state: string
  merchantId: string
  environment: SalesforceEnvironment
  /** PKCE code verifier, encrypted by the caller. */
  codeVerifierEnc: string
  /** Who started the flow (the dashboard JWT subject), for the audit log. */
  actor: string
  expiresAt: Date
}

/** A merchant's import and export settings, as the settings API validated them. */
export interface MerchantSettings {
  merchantId: string
  import: Record<string, unknown>
  export: Record<string, unknown>
  /** Grows by one on every save; saves with a stale version are refused. */
  version: number
  updatedAt: Date
}

/** A Salesforce record linked to a Cohort user. */
export interface RecordLink {
  merchantId: string
  sobject: string
  recordId: string
  userId: string
  email: string | null
  updatedAt: Date
}

export type SyncDirection = 'import' | 'export'

/**
 * The last value synced for one field of one record, with the time of the change that set
 * it: the basis of per-field idempotence and of "newer change wins" for two-way fields.
 */
export interface FieldState {
  merchantId: string
  recordId: string
  field: string
  /** JSON-serialisable value; null means cleared. */
  value: unknown
  /** Salesforce commit timestamp / SystemModstamp, or the Cohort event's occurredAt. */
  changedAt: Date
  /** Tie-breaker within one changedAt: CDC sequence number or Cohort event version. */
  sequence: number
  direction: SyncDirection
}

/** A per-record error: Salesforce or Cohort refused one record. Someone can see and retry it. */
export interface RecordError {
  id: string
  merchantId: string
  direction: SyncDirection
  recordId: string | null
  userId: string | null
  email: string | null
  code: string
  message: string
  /** What is needed to retry the change (no secrets). */
  payload: unknown
  attempts: number
  firstAt: Date
  at: Date
}

export interface NewRecordError {
  merchantId: string
  direction: SyncDirection
  recordId?: string | null
  userId?: string | null
  email?: string | null
  code: string
  message: string
  payload?: unknown
}

export type JobStatus = 'queued' | 'running' | 'completed' | 'failed'

/** One run of a job (a reconcile, a backfill), with its resumable checkpoint. */
export interface JobRun {
  id: string
  merchantId: string
  kind: string
  status: JobStatus
  dryRun: boolean
  phase: string | null
  progress: unknown
  counts: unknown
  samples: unknown
  checkpoint: unknown
  apiCalls: number
  error: string | null
  createdAt: Date
  startedAt: Date | null
  finishedAt: Date | null
  updatedAt: Date
}

export type JobRunPatch = Partial<Pick<JobRun, 'status' | 'phase' | 'progress' | 'counts' | 'samples' | 'checkpoint' | 'apiCalls' | 'error' | 'startedAt' | 'finishedAt'>>

export type ClaimResult = { claimed: true; run: JobRun } | { claimed: false; running: JobRun }

/** One line of the audit log: settings and connection changes. */
export interface AuditEntry {
  id: string
  merchantId: string
  actor: string
  action: string
  details: unknown
  at: Date
}

/** One step of a customer's sync history (the trace route). */
export interface TraceEntry {
  id: string
  merchantId: string
  direction: SyncDirection
  recordId: string | null
  userId: string | null
  email: string | null
  outcome: string
  details: unknown
  at: Date
}

export type NewTraceEntry = Omit<TraceEntry, 'id' | 'at'> & { at?: Date }

export interface Page<T> {
  data: T[]
  nextCursor: string | null
}

export interface PageOptions {
  cursor?: string | null
  /** 1..1000, default 50. */
  limit?: number
}

export interface Store {
  readonly backend: Backend

  /** Create or upgrade the schema. Safe when several processes call it at once. */
  migrate(): Promise<{ applied: number[]; current: number }>
  /** Cheap round trip for /readyz. Throws `store.unavailable` when the store cannot answer. */
  ping(): Promise<void>
  close(): Promise<void>

  // connections
  getConnection(merchantId: string): Promise<Connection | null>
  saveConnection(connection: Connection): Promise<void>
  /** Change the state only (needs-reauth after invalid_grant, say). */
  setConnectionState(merchantId: string, state: ConnectionState): Promise<void>
  /** Replace the encrypted tokens (refresh, key rotation). */
  updateConnectionTokens(merchantId: string, tokens: { accessTokenEnc: string; refreshTokenEnc: string | null; tokenKeyId: string }): Promise<void>
  /** Disconnect: drop tokens, keep the rest so a reconnect to the same org resumes. */
  clearConnectionTokens(merchantId: string): Promise<void>
  listConnections(): Promise<Connection[]>

  // oauth
  saveOAuthState(state: OAuthState): Promise<void>
  /** Return and delete the state in one step; null when unknown, already used or expired. */
  takeOAuthState(state: string, now?: Date): Promise<OAuthState | null>

  // settings
  getSettings(merchantId: string): Promise<MerchantSettings | null>
  /** Save; when `expectedVersion` is given and differs, throws `store.conflict`. */
  saveSettings(merchantId: string, settings: { import: Record<string, unknown>; export: Record<string, unknown> }, expectedVersion?: number): Promise<MerchantSettings>
  /** Forget what belongs to one Salesforce org (a different org was connected). Settings stay. */
  clearMerchantSyncState(merchantId: string): Promise<void>

  // CDC replay checkpoints
  getReplayId(merchantId: string, channel: string): Promise<number | null>
  /** Moves only forward unless `force` (cdc-replay from an older id). */
  saveReplayId(merchantId: string, channel: string, replayId: number, options?: { force?: boolean }): Promise<void>

  // record <-> user links
  linkRecord(link: Omit<RecordLink, 'updatedAt'>): Promise<void>
  findLinkByRecord(merchantId: string, recordId: string): Promise<RecordLink | null>
  findLinkByUser(merchantId: string, userId: string): Promise<RecordLink | null>
  findLinksByUsers(merchantId: string, userIds: string[]): Promise<RecordLink[]>
  /** user.deleted: forget links, field states and traces of that user. */
  forgetUser(merchantId: string, userId: string): Promise<void>

  // last-synced values
  getFieldStates(merchantId: string, recordId: string): Promise<FieldState[]>
  /** Upsert each field only when the incoming (changedAt, sequence) is newer; returns the fields written. */
  saveFieldStates(states: FieldState[]): Promise<string[]>

  // per-record errors
  /** Record a refusal; the same merchant/direction/record/code again bumps `attempts`. */
  recordError(error: NewRecordError): Promise<RecordError>
  listErrors(merchantId: string, options?: PageOptions): Promise<Page<RecordError>>
  getError(merchantId: string, id: string): Promise<RecordError | null>
  deleteError(merchantId: string, id: string): Promise<boolean>
  countErrors(merchantId: string): Promise<number>

  // job runs
  /** Create a run unless one of that kind is queued or running for the merchant. */
  claimJobRun(merchantId: string, kind: string, options: { dryRun: boolean }): Promise<ClaimResult>
  updateJobRun(id: string, patch: JobRunPatch): Promise<JobRun>
  getJobRun(merchantId: string, id: string): Promise<JobRun | null>
  getLatestJobRun(merchantId: string, kind: string): Promise<JobRun | null>

  // leases (one holder at a time across instances)
  /** Take or renew `name` for `owner` for `ttlMs`; false when someone else holds it. */
  acquireLease(name: string, owner: string, ttlMs: number, now?: Date): Promise<boolean>
  releaseLease(name: string, owner: string): Promise<void>

  // audit
  appendAudit(entry: Omit<AuditEntry, 'id' | 'at'>): Promise<AuditEntry>
  listAudit(merchantId: string, options?: PageOptions): Promise<Page<AuditEntry>>

  // traces
  appendTrace(entry: NewTraceEntry): Promise<void>
  listTrace(merchantId: string, by: { userId?: string; recordId?: string; email?: string }, limit?: number): Promise<TraceEntry[]>
}
