-- docket schema, version 7 (SQLite): console sessions. The console's cookie holds a
-- session token issued at sign-in, never the API key; only the token's SHA-256 is
-- stored. A session ends at expires_at, at sign-out and when its key is revoked (both
-- delete its row); the retention sweep deletes expired rows.
CREATE TABLE console_sessions (
    session_hash TEXT    PRIMARY KEY, -- hex SHA-256 of the session token
    key_id       TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    CONSTRAINT console_sessions_key_id_fkey FOREIGN KEY (key_id) REFERENCES api_keys (key_id)
);
CREATE INDEX console_sessions_key_id_idx ON console_sessions (key_id);
CREATE INDEX console_sessions_expires_at_idx ON console_sessions (expires_at);
