-- Sync health per merchant, which the engines report and any instance reads: the CDC state
-- and error (cdc_since moves only when the state or the error code changes), the newest
-- change event received and the newest import batch applied.
CREATE TABLE sync_health (
  merchant_id    text COLLATE "C" PRIMARY KEY,
  cdc_state      text NOT NULL DEFAULT 'stopped'
    CHECK (cdc_state IN ('stopped', 'starting', 'streaming', 'resyncing', 'paused', 'failed')),
  cdc_error      jsonb,
  cdc_since      timestamptz,
  last_event_at  timestamptz,
  last_import_at timestamptz,
  updated_at     timestamptz NOT NULL
);
