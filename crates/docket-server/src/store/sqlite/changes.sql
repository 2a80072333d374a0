-- docket schema, version 8 (SQLite): the change feed.
-- The change feed: every committed change at its position in the commit order, written
-- in the transaction of the change (a transactional outbox). `body` is the change as the
-- API renders it, without its position.
CREATE TABLE changes (
    position INTEGER PRIMARY KEY,
    kind     TEXT    NOT NULL,
    case_id  TEXT,
    at       INTEGER NOT NULL,
    body     TEXT    NOT NULL
);
-- (no index on case_id: a write would pay for it; a caseId read walks positions)
-- The highest position purged by retention: a cursor below it may have missed changes.
INSERT INTO counters (name, value) VALUES ('changes_purged', 0);
