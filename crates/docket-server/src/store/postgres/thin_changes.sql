-- A job chunk's `case.updated` change keeps no copy of its case (see store/thin.rs and
-- postgres/thin.rs): it names the history rows it wrote (`history_from`..`history_to`)
-- and keeps the case's counters after it. A case that has such changes is marked
-- (`thin_changes`); deleting it keeps its last state in `deleted_cases` and its history
-- under `case_seq = -id`, until retention has forgotten every change up to `floor` (the
-- commit position when it was deleted).
ALTER TABLE changes ADD COLUMN history_from BIGINT, ADD COLUMN history_to BIGINT;
ALTER TABLE cases ADD COLUMN thin_changes BOOLEAN NOT NULL DEFAULT false;
CREATE TABLE deleted_cases (
    id            BIGSERIAL PRIMARY KEY,
    floor         BIGINT  NOT NULL,
    case_seq      BIGINT  NOT NULL,
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
    version       BIGINT  NOT NULL,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL,
    external_id   TEXT,
    comment_count INTEGER NOT NULL
);
CREATE INDEX deleted_cases_floor_idx ON deleted_cases (floor);
