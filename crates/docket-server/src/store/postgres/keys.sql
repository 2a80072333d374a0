-- docket schema, version 3 (PostgreSQL): API keys. Only the SHA-256 of a token is stored.
CREATE TABLE api_keys (
    key_id     TEXT   PRIMARY KEY,
    name       TEXT,
    scopes     TEXT   NOT NULL, -- space-separated, e.g. 'cases:read jobs:read'
    token_hash TEXT   NOT NULL, -- hex SHA-256 of the token
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
