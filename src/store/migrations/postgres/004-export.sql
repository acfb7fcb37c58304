-- Export: the bridge's own Salesforce API calls per org and hour (apiBudget.used is the sum of
-- the last 24 hours, counted by every instance), the org's usage as Salesforce last reported it
-- (Sforce-Limit-Info, /limits), each instance's pending export changes per merchant, and when
-- an export batch last wrote something.
CREATE TABLE api_calls (
  org_id   text COLLATE "C" NOT NULL,
  hour     timestamptz NOT NULL,
  calls    bigint NOT NULL,
  PRIMARY KEY (org_id, hour)
);

CREATE TABLE api_org_usage (
  org_id      text COLLATE "C" PRIMARY KEY,
  used        bigint NOT NULL,
  max         bigint NOT NULL,
  reported_at timestamptz NOT NULL
);

CREATE TABLE export_pending (
  merchant_id text COLLATE "C" NOT NULL,
  instance    text COLLATE "C" NOT NULL,
  pending     integer NOT NULL,
  updated_at  timestamptz NOT NULL,
  PRIMARY KEY (merchant_id, instance)
);

CREATE TABLE export_health (
  merchant_id    text COLLATE "C" PRIMARY KEY,
  last_export_at timestamptz NOT NULL
);
