-- The sync engines' seams: one-to-one links with normalized emails, resolvable errors, export
-- versions per user and property, parked export changes and pauses, webhook ids, fenced
-- leases and checkpoints, owned runs, the settings change feed, and indexes for housekeeping.

-- Keyset walks compare ids in SQL and in JavaScript: both must order bytewise. Bytewise
-- comparison is also several times cheaper than a locale's, on the two largest tables.
ALTER TABLE record_links
  ALTER COLUMN merchant_id TYPE text COLLATE "C",
  ALTER COLUMN record_id TYPE text COLLATE "C",
  ALTER COLUMN user_id TYPE text COLLATE "C";
ALTER TABLE field_states
  ALTER COLUMN merchant_id TYPE text COLLATE "C",
  ALTER COLUMN record_id TYPE text COLLATE "C",
  ALTER COLUMN field TYPE text COLLATE "C";

-- Links: a user has at most one record per merchant. Of duplicates already stored, the one
-- findLinkByUser returned (newest, then lowest record id) is kept.
ALTER TABLE record_links ADD COLUMN email_norm text COLLATE "C";
UPDATE record_links SET email_norm = nullif(lower(btrim(email)), '');
DELETE FROM record_links l USING (
  SELECT merchant_id, record_id, row_number() OVER (PARTITION BY merchant_id, user_id ORDER BY updated_at DESC, record_id) AS n FROM record_links
) d WHERE d.n > 1 AND l.merchant_id = d.merchant_id AND l.record_id = d.record_id;
DROP INDEX record_links_user;
CREATE UNIQUE INDEX record_links_one_per_user ON record_links (merchant_id, user_id);
CREATE INDEX record_links_email ON record_links (merchant_id, email_norm) WHERE email_norm IS NOT NULL;

-- Errors: resolved ones stay (as history) until purged; only open ones are unique per key.
ALTER TABLE record_errors ADD COLUMN resolved_at timestamptz;
DROP INDEX record_errors_key;
CREATE UNIQUE INDEX record_errors_open_key
  ON record_errors (merchant_id, direction, (coalesce(record_id, '')), (coalesce(user_id, '')), code) WHERE resolved_at IS NULL;
CREATE INDEX record_errors_open_record ON record_errors (merchant_id, record_id) WHERE resolved_at IS NULL;
CREATE INDEX record_errors_open_user ON record_errors (merchant_id, user_id) WHERE resolved_at IS NULL;
CREATE INDEX record_errors_open_newest ON record_errors (merchant_id, at DESC, id DESC) WHERE resolved_at IS NULL;
CREATE INDEX record_errors_resolved ON record_errors (resolved_at) WHERE resolved_at IS NOT NULL;

CREATE TABLE export_versions (
  merchant_id text COLLATE "C" NOT NULL,
  user_id     text COLLATE "C" NOT NULL,
  property    text COLLATE "C" NOT NULL,
  version     bigint NOT NULL,
  value       jsonb,
  record_id   text,
  updated_at  timestamptz NOT NULL,
  PRIMARY KEY (merchant_id, user_id, property)
);

-- One entry per merchant and key (user id); position keeps the first-parked order, seq
-- changes on every park so an ack can tell whether the entry changed since it was peeked.
CREATE SEQUENCE parked_changes_seq;
CREATE TABLE parked_changes (
  merchant_id text NOT NULL,
  key         text NOT NULL,
  position    bigint NOT NULL,
  seq         bigint NOT NULL,
  properties  jsonb NOT NULL,
  parked_at   timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL,
  PRIMARY KEY (merchant_id, key)
);
CREATE INDEX parked_changes_order ON parked_changes (merchant_id, position);

-- Per property the higher version wins; an equal or missing one keeps the parked value.
CREATE FUNCTION merge_parked_properties(old jsonb, incoming jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT coalesce(jsonb_object_agg(coalesce(o.key, n.key), CASE
      WHEN n.value IS NULL THEN o.value
      WHEN o.value IS NULL THEN n.value
      WHEN (n.value->>'version')::numeric > (o.value->>'version')::numeric THEN n.value
      ELSE o.value END), '{}'::jsonb)
  FROM jsonb_each(old) o FULL JOIN jsonb_each(incoming) n ON n.key = o.key
$$;

CREATE TABLE export_pauses (
  merchant_id text PRIMARY KEY,
  reason      text NOT NULL,
  until       timestamptz,
  since       timestamptz NOT NULL
);

CREATE TABLE webhook_ids (
  id         text PRIMARY KEY,
  expires_at timestamptz NOT NULL
);
CREATE INDEX webhook_ids_expires_at ON webhook_ids (expires_at);

-- Leases keep their row after release, so the fence only ever grows.
ALTER TABLE leases ADD COLUMN fence bigint NOT NULL DEFAULT 0;

CREATE TABLE replay_requests (
  merchant_id  text PRIMARY KEY,
  channel      text NOT NULL,
  replay_id    bigint NOT NULL,
  requested_at timestamptz NOT NULL
);

CREATE TABLE checkpoints (
  name       text PRIMARY KEY,
  value      jsonb,
  lease_name text NOT NULL,
  fence      bigint NOT NULL,
  updated_at timestamptz NOT NULL
);

ALTER TABLE job_runs ADD COLUMN owner text;
ALTER TABLE job_runs ADD COLUMN heartbeat_at timestamptz;
UPDATE job_runs SET heartbeat_at = updated_at WHERE status IN ('queued', 'running');
CREATE INDEX job_runs_newest ON job_runs (merchant_id, created_at DESC, id DESC);
CREATE INDEX job_runs_finished ON job_runs (finished_at) WHERE finished_at IS NOT NULL;

-- Saves take numbers under a lock held to commit, so they become visible in number order.
CREATE SEQUENCE settings_change_seq;
ALTER TABLE merchant_settings ADD COLUMN change_seq bigint;
UPDATE merchant_settings SET change_seq = nextval('settings_change_seq');
ALTER TABLE merchant_settings ALTER COLUMN change_seq SET NOT NULL;
CREATE UNIQUE INDEX merchant_settings_change_seq ON merchant_settings (change_seq);

CREATE INDEX traces_at ON traces (at);
CREATE INDEX audit_log_at ON audit_log (at);
