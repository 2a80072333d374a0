-- docket schema, version 9 (PostgreSQL): a change keeps its parts in columns, not rendered.
-- A write copies the case after the change from its row (INSERT ... SELECT, nothing
-- rendered while the commit counter's row lock is held); the feed renders the change when
-- it reads it. `body` holds a change already rendered: a job event's, and every change
-- kept before this version.
ALTER TABLE changes
    ALTER COLUMN body DROP NOT NULL,
    ADD COLUMN actor         TEXT,
    ADD COLUMN version       BIGINT,
    ADD COLUMN job_id        TEXT,
    ADD COLUMN task_id       TEXT,
    ADD COLUMN diffs         TEXT,
    ADD COLUMN title         TEXT,
    ADD COLUMN description   TEXT,
    ADD COLUMN status        TEXT,
    ADD COLUMN status_reason TEXT,
    ADD COLUMN priority      TEXT,
    ADD COLUMN assignee      TEXT,
    ADD COLUMN tags          TEXT,
    ADD COLUMN fields        TEXT,
    ADD COLUMN open_tasks    INTEGER,
    ADD COLUMN created_at    BIGINT,
    ADD COLUMN updated_at    BIGINT;
