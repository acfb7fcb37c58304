-- Export: the bridge's own Salesforce API calls per org and hour (apiBudget.used is the sum of
-- the last 24 hours, counted by every instance), the org's usage as Salesforce last reported it
-- (Sforce-Limit-Info, /limits), each instance's pending export changes per merchant, and when
-- an export batch last wrote something.
CREATE TABLE api_calls (
  org_id   TEXT NOT NULL,
  hour     INTEGER NOT NULL,
  calls    INTEGER NOT NULL,
  PRIMARY KEY (org_id, hour)
) STRICT;

CREATE TABLE api_org_usage (
  org_id      TEXT PRIMARY KEY,
  used        INTEGER NOT NULL,
  max         INTEGER NOT NULL,
  reported_at INTEGER NOT NULL
) STRICT;

CREATE TABLE export_pending (
  merchant_id TEXT NOT NULL,
  instance    TEXT NOT NULL,
  pending     INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  PRIMARY KEY (merchant_id, instance)
) STRICT;

CREATE TABLE export_health (
  merchant_id    TEXT PRIMARY KEY,
  last_export_at INTEGER NOT NULL
) STRICT;
