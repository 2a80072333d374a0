-- docket schema, version 14 (SQLite): a bulk job's `case.updated` change keeps no copy
-- of its case. It names the case's history rows it wrote (`history_from`..`history_to`,
-- its changed fields) and keeps the case's counters after it; the feed rebuilds the
-- case from the case's row, undoing the history written after the change (see
-- thin.rs). A case that has such changes is marked (`thin_changes`); deleting it keeps
-- its last state in `deleted_cases` and its history under `case_seq = -id`, until
-- retention has forgotten every change before its deletion (`floor`).
ALTER TABLE changes ADD COLUMN history_from INTEGER;
ALTER TABLE changes ADD COLUMN history_to INTEGER;
ALTER TABLE cases ADD COLUMN thin_changes INTEGER NOT NULL DEFAULT 0;
CREATE TABLE deleted_cases (
    id            INTEGER PRIMARY KEY,
    floor         INTEGER NOT NULL, -- the commit position when it was deleted
    case_id       TEXT    NOT NULL,
    title         TEXT    NOT NULL,
    description   TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    status_reason TEXT,
    priority      TEXT    NOT NULL,
    assignee      TEXT,
    tags          TEXT    NOT NULL,
    fields        TEXT    NOT NULL,
    open_tasks    INTEGER NOT NULL,
    version       INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    external_id   TEXT,
    comment_count INTEGER NOT NULL
);
CREATE INDEX deleted_cases_floor_idx ON deleted_cases (floor);
