-- The sync engines' seams: one-to-one links with normalized emails, resolvable errors, export
-- versions per user and property, parked export changes and pauses, webhook ids, fenced
-- leases and checkpoints, owned runs, the settings change feed, and indexes for housekeeping.

-- Monotonic counters that never hand out a number twice, even after rows are deleted.
CREATE TABLE counters (
  name  TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) STRICT;

-- Links: a user has at most one record per merchant. Of duplicates already stored, the one
-- findLinkByUser returned (newest, then lowest record id) is kept.
ALTER TABLE record_links ADD COLUMN email_norm TEXT;
UPDATE record_links SET email_norm = nullif(lower(trim(email)), '');
DELETE FROM record_links WHERE rowid IN (
  SELECT rowid FROM (
    SELECT rowid, row_number() OVER (PARTITION BY merchant_id, user_id ORDER BY updated_at DESC, record_id) AS n FROM record_links
  ) WHERE n > 1
);
DROP INDEX record_links_user;
CREATE UNIQUE INDEX record_links_one_per_user ON record_links (merchant_id, user_id);
CREATE INDEX record_links_email ON record_links (merchant_id, email_norm) WHERE email_norm IS NOT NULL;

-- Errors: resolved ones stay (as history) until purged; only open ones are unique per key.
ALTER TABLE record_errors ADD COLUMN resolved_at INTEGER;
DROP INDEX record_errors_key;
CREATE UNIQUE INDEX record_errors_open_key
  ON record_errors (merchant_id, direction, coalesce(record_id, ''), coalesce(user_id, ''), code) WHERE resolved_at IS NULL;
CREATE INDEX record_errors_open_record ON record_errors (merchant_id, record_id) WHERE resolved_at IS NULL;
CREATE INDEX record_errors_open_user ON record_errors (merchant_id, user_id) WHERE resolved_at IS NULL;
CREATE INDEX record_errors_open_newest ON record_errors (merchant_id, at DESC, id DESC) WHERE resolved_at IS NULL;
CREATE INDEX record_errors_resolved ON record_errors (resolved_at) WHERE resolved_at IS NOT NULL;

CREATE TABLE export_versions (
  merchant_id TEXT NOT NULL,
  user_id     TEXT NOT NULL,
  property    TEXT NOT NULL,
  version     INTEGER NOT NULL,
  value       TEXT,
  record_id   TEXT,
  updated_at  INTEGER NOT NULL,
  PRIMARY KEY (merchant_id, user_id, property)
) STRICT;

-- One entry per merchant and key (user id); position keeps the first-parked order, seq
-- changes on every park so an ack can tell whether the entry changed since it was peeked.
CREATE TABLE parked_changes (
  merchant_id TEXT NOT NULL,
  key         TEXT NOT NULL,
  position    INTEGER NOT NULL,
  seq         INTEGER NOT NULL,
  properties  TEXT NOT NULL,
  parked_at   INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  PRIMARY KEY (merchant_id, key)
) STRICT;
CREATE INDEX parked_changes_order ON parked_changes (merchant_id, position);

CREATE TABLE export_pauses (
  merchant_id TEXT PRIMARY KEY,
  reason      TEXT NOT NULL,
  until       INTEGER,
  since       INTEGER NOT NULL
) STRICT;

CREATE TABLE webhook_ids (
  id         TEXT PRIMARY KEY,
  expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX webhook_ids_expires_at ON webhook_ids (expires_at);

-- Leases keep their row after release, so the fence only ever grows.
ALTER TABLE leases ADD COLUMN fence INTEGER NOT NULL DEFAULT 0;

CREATE TABLE replay_requests (
  merchant_id  TEXT PRIMARY KEY,
  channel      TEXT NOT NULL,
  replay_id    INTEGER NOT NULL,
  requested_at INTEGER NOT NULL
) STRICT;

CREATE TABLE checkpoints (
  name       TEXT PRIMARY KEY,
  value      TEXT,
  lease_name TEXT NOT NULL,
  fence      INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT;

ALTER TABLE job_runs ADD COLUMN owner TEXT;
ALTER TABLE job_runs ADD COLUMN heartbeat_at INTEGER;
UPDATE job_runs SET heartbeat_at = updated_at WHERE status IN ('queued', 'running');
CREATE INDEX job_runs_newest ON job_runs (merchant_id, created_at DESC, id DESC);
CREATE INDEX job_runs_finished ON job_runs (finished_at) WHERE finished_at IS NOT NULL;

ALTER TABLE merchant_settings ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
UPDATE merchant_settings SET change_seq = (SELECT count(*) FROM merchant_settings m WHERE m.rowid <= merchant_settings.rowid);
CREATE UNIQUE INDEX merchant_settings_change_seq ON merchant_settings (change_seq);

CREATE INDEX traces_at ON traces (at);
CREATE INDEX audit_log_at ON audit_log (at);
