-- docket schema, version 1 (SQLite). Times are milliseconds since the Unix epoch, UTC.
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO counters (name, value) VALUES ('commit', 0), ('case_number', 0), ('task_number', 0);

CREATE TABLE cases (
    seq           INTEGER PRIMARY KEY,
    case_id       TEXT    NOT NULL,
    title         TEXT    NOT NULL,
    description   TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    status_reason TEXT,
    priority      TEXT    NOT NULL,
    assignee      TEXT,
    tags          TEXT    NOT NULL, -- JSON array
    fields        TEXT    NOT NULL, -- JSON object
    open_tasks    INTEGER NOT NULL DEFAULT 0,
    version       INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    commit_seq    INTEGER NOT NULL,
    CONSTRAINT cases_case_id_key UNIQUE (case_id)
);
CREATE INDEX cases_status_idx ON cases (status, seq);
CREATE INDEX cases_assignee_idx ON cases (assignee, seq);
CREATE INDEX cases_updated_at_idx ON cases (updated_at, seq);

CREATE TABLE case_tags (
    tag      TEXT    NOT NULL,
    case_seq INTEGER NOT NULL,
    PRIMARY KEY (tag, case_seq)
) WITHOUT ROWID;

CREATE TABLE case_history (
    id         INTEGER PRIMARY KEY,
    case_seq   INTEGER NOT NULL,
    at         INTEGER NOT NULL,
    actor      TEXT    NOT NULL,
    field      TEXT    NOT NULL,
    from_value TEXT    NOT NULL, -- JSON
    to_value   TEXT    NOT NULL, -- JSON
    job_id     TEXT
);
CREATE INDEX case_history_case_idx ON case_history (case_seq, id);

CREATE TABLE tasks (
    seq        INTEGER PRIMARY KEY,
    task_id    TEXT    NOT NULL,
    case_seq   INTEGER NOT NULL,
    title      TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    assignee   TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    CONSTRAINT tasks_task_id_key UNIQUE (task_id)
);
CREATE INDEX tasks_case_idx ON tasks (case_seq, seq);
