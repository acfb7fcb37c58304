-- Sync health per merchant, which the engines report and any instance reads: the CDC state
-- and error (cdc_since moves only when the state or the error code changes), the newest
-- change event received and the newest import batch applied.
CREATE TABLE sync_health (
  merchant_id    TEXT PRIMARY KEY,
  cdc_state      TEXT NOT NULL DEFAULT 'stopped'
    CHECK (cdc_state IN ('stopped', 'starting', 'streaming', 'resyncing', 'paused', 'failed')),
  cdc_error      TEXT,
  cdc_since      INTEGER,
  last_event_at  INTEGER,
  last_import_at INTEGER,
  updated_at     INTEGER NOT NULL
) STRICT;
