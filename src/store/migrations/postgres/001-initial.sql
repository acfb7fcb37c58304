-- Initial schema. Ids use the "C" collation so they sort bytewise, as in SQLite and in
-- JavaScript: newest-first paging compares (at, id) and must agree with ORDER BY.

CREATE TABLE connections (
  merchant_id       text PRIMARY KEY,
  state             text NOT NULL CHECK (state IN ('connected', 'needs-reauth', 'disconnected')),
  environment       text NOT NULL CHECK (environment IN ('production', 'sandbox')),
  org_id            text NOT NULL,
  user_id           text NOT NULL,
  username          text NOT NULL,
  instance_url      text NOT NULL,
  access_token_enc  text,
  refresh_token_enc text,
  token_key_id      text,
  connected_at      timestamptz NOT NULL,
  updated_at        timestamptz NOT NULL
);

CREATE TABLE oauth_states (
  state             text PRIMARY KEY,
  merchant_id       text NOT NULL,
  environment       text NOT NULL CHECK (environment IN ('production', 'sandbox')),
  code_verifier_enc text NOT NULL,
  actor             text NOT NULL,
  expires_at        timestamptz NOT NULL
);
-- Abandoned flows are swept by expiry.
CREATE INDEX oauth_states_expires_at ON oauth_states (expires_at);

CREATE TABLE merchant_settings (
  merchant_id     text PRIMARY KEY,
  import_settings jsonb NOT NULL,
  export_settings jsonb NOT NULL,
  version         integer NOT NULL,
  updated_at      timestamptz NOT NULL
);

CREATE TABLE replay_checkpoints (
  merchant_id text NOT NULL,
  channel     text NOT NULL,
  replay_id   bigint NOT NULL,
  updated_at  timestamptz NOT NULL,
  PRIMARY KEY (merchant_id, channel)
);

CREATE TABLE record_links (
  merchant_id text NOT NULL,
  record_id   text NOT NULL,
  sobject     text NOT NULL,
  user_id     text NOT NULL,
  email       text,
  updated_at  timestamptz NOT NULL,
  PRIMARY KEY (merchant_id, record_id)
);
CREATE INDEX record_links_user ON record_links (merchant_id, user_id);

CREATE TABLE field_states (
  merchant_id text NOT NULL,
  record_id   text NOT NULL,
  field       text NOT NULL,
  value       jsonb,
  changed_at  timestamptz NOT NULL,
  sequence    bigint NOT NULL,
  direction   text NOT NULL CHECK (direction IN ('import', 'export')),
  PRIMARY KEY (merchant_id, record_id, field)
);

CREATE TABLE record_errors (
  id          text COLLATE "C" PRIMARY KEY,
  merchant_id text NOT NULL,
  direction   text NOT NULL CHECK (direction IN ('import', 'export')),
  record_id   text,
  user_id     text,
  email       text,
  code        text NOT NULL,
  message     text NOT NULL,
  payload     jsonb,
  attempts    integer NOT NULL,
  first_at    timestamptz NOT NULL,
  at          timestamptz NOT NULL
);
-- One row per refusal of one record, so a repeat bumps attempts instead of piling up.
CREATE UNIQUE INDEX record_errors_key
  ON record_errors (merchant_id, direction, (coalesce(record_id, '')), (coalesce(user_id, '')), code);
CREATE INDEX record_errors_newest ON record_errors (merchant_id, at DESC, id DESC);

CREATE TABLE job_runs (
  id          text COLLATE "C" PRIMARY KEY,
  merchant_id text NOT NULL,
  kind        text NOT NULL,
  status      text NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed')),
  dry_run     boolean NOT NULL,
  phase       text,
  progress    jsonb,
  counts      jsonb,
  samples     jsonb,
  checkpoint  jsonb,
  api_calls   integer NOT NULL DEFAULT 0,
  error       text,
  created_at  timestamptz NOT NULL,
  started_at  timestamptz,
  finished_at timestamptz,
  updated_at  timestamptz NOT NULL
);
-- At most one live run per merchant and kind, whatever the callers do.
CREATE UNIQUE INDEX job_runs_one_active
  ON job_runs (merchant_id, kind) WHERE status IN ('queued', 'running');
CREATE INDEX job_runs_latest ON job_runs (merchant_id, kind, created_at DESC, id DESC);

CREATE TABLE leases (
  name       text PRIMARY KEY,
  owner      text NOT NULL,
  expires_at timestamptz NOT NULL
);

CREATE TABLE audit_log (
  id          text COLLATE "C" PRIMARY KEY,
  merchant_id text NOT NULL,
  actor       text NOT NULL,
  action      text NOT NULL,
  details     jsonb,
  at          timestamptz NOT NULL
);
CREATE INDEX audit_log_newest ON audit_log (merchant_id, at DESC, id DESC);

CREATE TABLE traces (
  id          text COLLATE "C" PRIMARY KEY,
  merchant_id text NOT NULL,
  direction   text NOT NULL CHECK (direction IN ('import', 'export')),
  record_id   text,
  user_id     text,
  email       text,
  outcome     text NOT NULL,
  details     jsonb,
  at          timestamptz NOT NULL
);
CREATE INDEX traces_user ON traces (merchant_id, user_id, at DESC);
CREATE INDEX traces_record ON traces (merchant_id, record_id, at DESC);
CREATE INDEX traces_email ON traces (merchant_id, email, at DESC);
