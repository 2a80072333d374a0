-- Comments and internal notes on cases. A case keeps how many it has
-- (`comment_count`, part of the case as the API shows it); a change keeps the comment
-- it is about and the case's count after it.
CREATE TABLE comments (
    seq        INTEGER PRIMARY KEY,
    comment_id TEXT    NOT NULL UNIQUE,
    case_seq   INTEGER NOT NULL,
    body       TEXT    NOT NULL,
    visibility TEXT    NOT NULL,
    author     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version    INTEGER NOT NULL,
    job_id     TEXT
);
CREATE INDEX comments_case_idx ON comments (case_seq, seq);
ALTER TABLE cases ADD COLUMN comment_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE changes ADD COLUMN comment_count INTEGER;
ALTER TABLE changes ADD COLUMN comment_id TEXT;
INSERT INTO counters (name, value) VALUES ('comment_number', 0);
