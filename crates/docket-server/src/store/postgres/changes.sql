-- docket schema, version 7 (PostgreSQL): the change feed.
-- The change feed: every committed change at its position in the commit order, written
-- in the transaction of the change (a transactional outbox). Positions are taken under
-- the `commit` counter's row lock, held to the commit, so they become visible in
-- position order. `body` is the change as the API renders it, without its position.
CREATE TABLE changes (
    position BIGINT PRIMARY KEY,
    kind     TEXT   NOT NULL,
    case_id  TEXT,
    at       BIGINT NOT NULL,
    body     TEXT   NOT NULL
);
CREATE INDEX changes_case_idx ON changes (case_id, position) WHERE case_id IS NOT NULL;
-- The highest position purged by retention: a cursor below it may have missed changes.
INSERT INTO counters (name, value) VALUES ('changes_purged', 0);
