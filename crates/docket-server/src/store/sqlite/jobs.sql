-- docket schema, version 2 (SQLite): durable jobs, their items, callbacks.
CREATE TABLE jobs (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: items of a deleted job may linger
    job_id           TEXT    NOT NULL,
    kind             TEXT    NOT NULL DEFAULT 'bulk-update',
    state            TEXT    NOT NULL,
    total            INTEGER NOT NULL,
    processed        INTEGER NOT NULL DEFAULT 0,
    succeeded        INTEGER NOT NULL DEFAULT 0,
    failed           INTEGER NOT NULL DEFAULT 0,
    next_index       INTEGER NOT NULL DEFAULT 0,
    atomic           INTEGER NOT NULL DEFAULT 0,
    callback_url     TEXT,
    parent_job_id    TEXT,
    actor            TEXT    NOT NULL,
    idempotency_key  TEXT,
    request_hash     TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    last_worked_at   INTEGER,
    last_commit_seq  INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER,
    CONSTRAINT jobs_job_id_key UNIQUE (job_id)
);
CREATE INDEX jobs_state_idx ON jobs (state, seq);
CREATE INDEX jobs_finished_idx ON jobs (finished_at) WHERE finished_at IS NOT NULL;
CREATE UNIQUE INDEX jobs_idempotency_key_idx ON jobs (idempotency_key) WHERE idempotency_key IS NOT NULL;

-- One row per item, in request order. outcome NULL = not yet processed.
CREATE TABLE job_items (
    job_seq      INTEGER NOT NULL,
    idx          INTEGER NOT NULL,
    case_id      TEXT    NOT NULL,
    item         TEXT    NOT NULL, -- the item's JSON as submitted
    outcome      TEXT,
    error_code   TEXT,
    error_detail TEXT,
    version      INTEGER,
    PRIMARY KEY (job_seq, idx)
) WITHOUT ROWID;
CREATE INDEX job_items_failed_idx ON job_items (job_seq, idx) WHERE outcome = 'failed';

CREATE TABLE callback_deliveries (
    delivery_id     TEXT    PRIMARY KEY,
    job_seq         INTEGER NOT NULL,
    url             TEXT    NOT NULL,
    event           TEXT    NOT NULL,
    state           TEXT    NOT NULL, -- pending, delivered, failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    created_at      INTEGER NOT NULL
);
CREATE INDEX callback_deliveries_due_idx ON callback_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX callback_deliveries_job_idx ON callback_deliveries (job_seq);

CREATE TABLE callback_attempts (
    id          INTEGER PRIMARY KEY,
    delivery_id TEXT    NOT NULL,
    attempt     INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    status_code INTEGER,
    error       TEXT,
    duration_ms INTEGER NOT NULL
);
CREATE INDEX callback_attempts_delivery_idx ON callback_attempts (delivery_id, id);

-- Jobs deleted or purged whose items are still being removed, in batches.
CREATE TABLE job_item_purges (
    job_seq INTEGER PRIMARY KEY
);
