-- docket schema, version 8 (PostgreSQL): webhooks. A webhook's cursor is the last change
-- position the fan-out has turned into its deliveries; a delivery's lane orders it
-- (a case's deliveries go one at a time, in position order).
CREATE TABLE webhooks (
    seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id       TEXT    NOT NULL,
    url              TEXT    NOT NULL,
    events           TEXT    NOT NULL, -- JSON array
    filter           TEXT    NOT NULL, -- JSON object
    description      TEXT,
    enabled          BOOLEAN NOT NULL,
    disabled_reason  TEXT,
    secret           TEXT    NOT NULL,
    old_secret       TEXT,
    old_secret_until BIGINT,
    failing_since    BIGINT,
    cursor           BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    CONSTRAINT webhooks_webhook_id_key UNIQUE (webhook_id)
);

CREATE TABLE webhook_deliveries (
    seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id      TEXT    NOT NULL,
    webhook_seq      BIGINT NOT NULL,
    position         BIGINT,
    kind             TEXT    NOT NULL,
    case_id          TEXT,
    lane             TEXT    NOT NULL,
    payload          TEXT    NOT NULL,
    state            TEXT    NOT NULL, -- pending, succeeded, failed
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    retry_until      BIGINT NOT NULL,
    last_attempt_at  BIGINT,
    last_status_code BIGINT,
    last_error       TEXT,
    claimed_by       TEXT,
    claimed_until    BIGINT,
    created_at       BIGINT NOT NULL,
    CONSTRAINT webhook_deliveries_delivery_id_key UNIQUE (delivery_id)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_lane_idx ON webhook_deliveries (webhook_seq, lane, state, seq);
CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_seq, seq);
-- The fan-out's lock: one node at a time turns changes into deliveries.
INSERT INTO counters (name, value) VALUES ('webhook_fanout', 0);
