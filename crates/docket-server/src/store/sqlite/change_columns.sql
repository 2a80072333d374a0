-- docket schema, version 10 (SQLite): a change keeps its parts in columns, not rendered.
-- A write copies the case after the change from its row (INSERT ... SELECT, no rendering
-- on the one writer's path); the feed renders the change when it reads it. `body` holds
-- a change already rendered: a job event's, and every change kept before this version.
CREATE TABLE changes_v10 (
    position      INTEGER PRIMARY KEY,
    kind          TEXT    NOT NULL,
    case_id       TEXT,
    at            INTEGER NOT NULL,
    body          TEXT,
    actor         TEXT,
    version       INTEGER,
    job_id        TEXT,
    task_id       TEXT,
    diffs         TEXT, -- JSON array of {field, from, to}
    -- the case after the change (NULL for a deletion and a job event)
    title         TEXT,
    description   TEXT,
    status        TEXT,
    status_reason TEXT,
    priority      TEXT,
    assignee      TEXT,
    tags          TEXT,
    fields        TEXT,
    open_tasks    INTEGER,
    created_at    INTEGER,
    updated_at    INTEGER
);
INSERT INTO changes_v10 (position, kind, case_id, at, body)
    SELECT position, kind, case_id, at, body FROM changes;
DROP TABLE changes;
ALTER TABLE changes_v10 RENAME TO changes;
