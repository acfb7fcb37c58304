-- Initial schema. Timestamps are integer epoch milliseconds; JSON columns hold JSON text.
-- STRICT tables so a wrongly typed value fails here instead of being stored as-is.

CREATE TABLE connections (
  merchant_id       TEXT PRIMARY KEY,
  state             TEXT NOT NULL CHECK (state IN ('connected', 'needs-reauth', 'disconnected')),
  environment       TEXT NOT NULL CHECK (environment IN ('production', 'sandbox')),
  org_id            TEXT NOT NULL,
  user_id           TEXT NOT NULL,
  username          TEXT NOT NULL,
  instance_url      TEXT NOT NULL,
  access_token_enc  TEXT,
  refresh_token_enc TEXT,
  token_key_id      TEXT,
  connected_at      INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL
) STRICT;

CREATE TABLE oauth_states (
  state             TEXT PRIMARY KEY,
  merchant_id       TEXT NOT NULL,
  environment       TEXT NOT NULL CHECK (environment IN ('production', 'sandbox')),
  code_verifier_enc TEXT NOT NULL,
  actor             TEXT NOT NULL,
  expires_at        INTEGER NOT NULL
) STRICT;
-- Abandoned flows are swept by expiry.
CREATE INDEX oauth_states_expires_at ON oauth_states (expires_at);

CREATE TABLE merchant_settings (
  merchant_id     TEXT PRIMARY KEY,
  import_settings TEXT NOT NULL,
  export_settings TEXT NOT NULL,
  version         INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
) STRICT;

CREATE TABLE replay_checkpoints (
  merchant_id TEXT NOT NULL,
  channel     TEXT NOT NULL,
  replay_id   INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  PRIMARY KEY (merchant_id, channel)
) STRICT;

CREATE TABLE record_links (
  merchant_id TEXT NOT NULL,
  record_id   TEXT NOT NULL,
  sobject     TEXT NOT NULL,
  user_id     TEXT NOT NULL,
  email       TEXT,
  updated_at  INTEGER NOT NULL,
  PRIMARY KEY (merchant_id, record_id)
) STRICT;
CREATE INDEX record_links_user ON record_links (merchant_id, user_id);

CREATE TABLE field_states (
  merchant_id TEXT NOT NULL,
  record_id   TEXT NOT NULL,
  field       TEXT NOT NULL,
  value       TEXT,
  changed_at  INTEGER NOT NULL,
  sequence    INTEGER NOT NULL,
  direction   TEXT NOT NULL CHECK (direction IN ('import', 'export')),
  PRIMARY KEY (merchant_id, record_id, field)
) STRICT;

CREATE TABLE record_errors (
  id          TEXT PRIMARY KEY,
  merchant_id TEXT NOT NULL,
  direction   TEXT NOT NULL CHECK (direction IN ('import', 'export')),
  record_id   TEXT,
  user_id     TEXT,
  email       TEXT,
  code        TEXT NOT NULL,
  message     TEXT NOT NULL,
  payload     TEXT,
  attempts    INTEGER NOT NULL,
  first_at    INTEGER NOT NULL,
  at          INTEGER NOT NULL
) STRICT;
-- One row per refusal of one record, so a repeat bumps attempts instead of piling up.
CREATE UNIQUE INDEX record_errors_key
  ON record_errors (merchant_id, direction, coalesce(record_id, ''), coalesce(user_id, ''), code);
CREATE INDEX record_errors_newest ON record_errors (merchant_id, at DESC, id DESC);

CREATE TABLE job_runs (
  id          TEXT PRIMARY KEY,
  merchant_id TEXT NOT NULL,
  kind        TEXT NOT NULL,
  status      TEXT NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed')),
  dry_run     INTEGER NOT NULL,
  phase       TEXT,
  progress    TEXT,
  counts      TEXT,
  samples     TEXT,
  checkpoint  TEXT,
  api_calls   INTEGER NOT NULL DEFAULT 0,
  error       TEXT,
  created_at  INTEGER NOT NULL,
  started_at  INTEGER,
  finished_at INTEGER,
  updated_at  INTEGER NOT NULL
) STRICT;
-- At most one live run per merchant and kind, whatever the callers do.
CREATE UNIQUE INDEX job_runs_one_active
  ON job_runs (merchant_id, kind) WHERE status IN ('queued', 'running');
CREATE INDEX job_runs_latest ON job_runs (merchant_id, kind, created_at DESC, id DESC);

CREATE TABLE leases (
  name       TEXT PRIMARY KEY,
  owner      TEXT NOT NULL,
  expires_at INTEGER NOT NULL
) STRICT;

CREATE TABLE audit_log (
  id          TEXT PRIMARY KEY,
  merchant_id TEXT NOT NULL,
  actor       TEXT NOT NULL,
  action      TEXT NOT NULL,
  details     TEXT,
  at          INTEGER NOT NULL
) STRICT;
CREATE INDEX audit_log_newest ON audit_log (merchant_id, at DESC, id DESC);

CREATE TABLE traces (
  id          TEXT PRIMARY KEY,
  merchant_id TEXT NOT NULL,
  direction   TEXT NOT NULL CHECK (direction IN ('import', 'export')),
  record_id   TEXT,
  user_id     TEXT,
  email       TEXT,
  outcome     TEXT NOT NULL,
  details     TEXT,
  at          INTEGER NOT NULL
) STRICT;
CREATE INDEX traces_user ON traces (merchant_id, user_id, at DESC);
CREATE INDEX traces_record ON traces (merchant_id, record_id, at DESC);
CREATE INDEX traces_email ON traces (merchant_id, email, at DESC);
