-- docket schema, version 3 (SQLite): runtime settings changed through the API.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL -- JSON
) WITHOUT ROWID;
