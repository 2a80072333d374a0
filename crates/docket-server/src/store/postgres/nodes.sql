-- docket schema, version 2 (PostgreSQL): the node registry of a cluster.
CREATE TABLE nodes (
    node_id        TEXT   PRIMARY KEY,
    started_at     BIGINT NOT NULL,
    heartbeat_at   BIGINT NOT NULL,
    -- Every invalidation up to this commit has been applied to this node's cache.
    applied_commit BIGINT NOT NULL DEFAULT 0
);
