-- docket schema, version 1 (PostgreSQL). Same tables and constraint names as the SQLite
-- migrations. Times are milliseconds since the Unix epoch, UTC; JSON is stored as text.
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('commit', 0), ('case_number', 0), ('task_number', 0);

CREATE TABLE cases (
    seq           BIGSERIAL PRIMARY KEY,
    case_id       TEXT    NOT NULL,
    title         TEXT    NOT NULL,
    description   TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    status_reason TEXT,
    priority      TEXT    NOT NULL,
    assignee      TEXT,
    tags          TEXT    NOT NULL,
    fields        TEXT    NOT NULL,
    open_tasks    INTEGER NOT NULL DEFAULT 0,
    version       BIGINT  NOT NULL,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL,
    commit_seq    BIGINT  NOT NULL,
    CONSTRAINT cases_case_id_key UNIQUE (case_id)
);
CREATE INDEX cases_status_idx ON cases (status, seq);
CREATE INDEX cases_assignee_idx ON cases (assignee, seq);
CREATE INDEX cases_updated_at_idx ON cases (updated_at, seq);

CREATE TABLE case_tags (
    tag      TEXT   NOT NULL,
    case_seq BIGINT NOT NULL,
    PRIMARY KEY (tag, case_seq)
);

CREATE TABLE case_history (
    id         BIGSERIAL PRIMARY KEY,
    case_seq   BIGINT NOT NULL,
    at         BIGINT NOT NULL,
    actor      TEXT   NOT NULL,
    field      TEXT   NOT NULL,
    from_value TEXT   NOT NULL,
    to_value   TEXT   NOT NULL,
    job_id     TEXT
);
CREATE INDEX case_history_case_idx ON case_history (case_seq, id);

CREATE TABLE tasks (
    seq        BIGSERIAL PRIMARY KEY,
    task_id    TEXT   NOT NULL,
    case_seq   BIGINT NOT NULL,
    title      TEXT   NOT NULL,
    status     TEXT   NOT NULL,
    assignee   TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT tasks_task_id_key UNIQUE (task_id)
);
CREATE INDEX tasks_case_idx ON tasks (case_seq, seq);

CREATE TABLE jobs (
    seq              BIGSERIAL PRIMARY KEY,
    job_id           TEXT    NOT NULL,
    kind             TEXT    NOT NULL DEFAULT 'bulk-update',
    state            TEXT    NOT NULL,
    total            BIGINT  NOT NULL,
    processed        BIGINT  NOT NULL DEFAULT 0,
    succeeded        BIGINT  NOT NULL DEFAULT 0,
    failed           BIGINT  NOT NULL DEFAULT 0,
    next_index       BIGINT  NOT NULL DEFAULT 0,
    atomic           BOOLEAN NOT NULL DEFAULT FALSE,
    callback_url     TEXT,
    parent_job_id    TEXT,
    actor            TEXT    NOT NULL,
    idempotency_key  TEXT,
    request_hash     TEXT,
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    lease_owner      TEXT,
    lease_expires_at BIGINT,
    last_worked_at   BIGINT,
    last_commit_seq  BIGINT  NOT NULL DEFAULT 0,
    created_at       BIGINT  NOT NULL,
    started_at       BIGINT,
    finished_at      BIGINT,
    CONSTRAINT jobs_job_id_key UNIQUE (job_id)
);
CREATE INDEX jobs_state_idx ON jobs (state, seq);
CREATE INDEX jobs_finished_idx ON jobs (finished_at) WHERE finished_at IS NOT NULL;
CREATE UNIQUE INDEX jobs_idempotency_key_idx ON jobs (idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE TABLE job_items (
    job_seq      BIGINT NOT NULL,
    idx          BIGINT NOT NULL,
    case_id      TEXT   NOT NULL,
    item         TEXT   NOT NULL,
    outcome      TEXT,
    error_code   TEXT,
    error_detail TEXT,
    version      BIGINT,
    PRIMARY KEY (job_seq, idx)
);
CREATE INDEX job_items_failed_idx ON job_items (job_seq, idx) WHERE outcome = 'failed';

CREATE TABLE callback_deliveries (
    delivery_id     TEXT    PRIMARY KEY,
    job_seq         BIGINT  NOT NULL,
    url             TEXT    NOT NULL,
    event           TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    created_at      BIGINT  NOT NULL
);
CREATE INDEX callback_deliveries_due_idx ON callback_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX callback_deliveries_job_idx ON callback_deliveries (job_seq);

CREATE TABLE callback_attempts (
    id          BIGSERIAL PRIMARY KEY,
    delivery_id TEXT    NOT NULL,
    attempt     INTEGER NOT NULL,
    at          BIGINT  NOT NULL,
    status_code INTEGER,
    error       TEXT,
    duration_ms BIGINT  NOT NULL
);
CREATE INDEX callback_attempts_delivery_idx ON callback_attempts (delivery_id, id);

CREATE TABLE job_item_purges (
    job_seq BIGINT PRIMARY KEY
);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
