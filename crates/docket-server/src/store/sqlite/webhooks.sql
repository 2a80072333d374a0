-- docket schema, version 9 (SQLite): webhooks. A webhook's cursor is the last change
-- position the fan-out has turned into its deliveries; a delivery's lane orders it
-- (a case's deliveries go one at a time, in position order).
CREATE TABLE webhooks (
    seq              INTEGER PRIMARY KEY,
    webhook_id       TEXT    NOT NULL,
    url              TEXT    NOT NULL,
    events           TEXT    NOT NULL, -- JSON array
    filter           TEXT    NOT NULL, -- JSON object
    description      TEXT,
    enabled          INTEGER NOT NULL,
    disabled_reason  TEXT,
    secret           TEXT    NOT NULL,
    old_secret       TEXT,
    old_secret_until INTEGER,
    failing_since    INTEGER,
    cursor           INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    CONSTRAINT webhooks_webhook_id_key UNIQUE (webhook_id)
);

CREATE TABLE webhook_deliveries (
    seq              INTEGER PRIMARY KEY,
    delivery_id      TEXT    NOT NULL,
    webhook_seq      INTEGER NOT NULL,
    position         INTEGER,
    kind             TEXT    NOT NULL,
    case_id          TEXT,
    lane             TEXT    NOT NULL,
    payload          TEXT    NOT NULL,
    state            TEXT    NOT NULL, -- pending, succeeded, failed
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    retry_until      INTEGER NOT NULL,
    last_attempt_at  INTEGER,
    last_status_code INTEGER,
    last_error       TEXT,
    claimed_by       TEXT,
    claimed_until    INTEGER,
    created_at       INTEGER NOT NULL,
    CONSTRAINT webhook_deliveries_delivery_id_key UNIQUE (delivery_id)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_lane_idx ON webhook_deliveries (webhook_seq, lane, state, seq);
CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_seq, seq);
