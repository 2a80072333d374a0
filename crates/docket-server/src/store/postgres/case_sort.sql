-- docket schema, version 4 (PostgreSQL): listing cases by updatedAt within a status.
-- `GET /api/v1/cases?status=S&sort=-updatedAt` walks this index in order from the
-- cursor's position instead of sorting every case in the status for each page.
-- Migrations run in one transaction (under the advisory lock), where CONCURRENTLY is not
-- allowed: building it blocks writes to `cases` (not reads) for the seconds it takes on
-- a large table, once, when the first upgraded node starts.
CREATE INDEX cases_status_updated_idx ON cases (status, updated_at, seq);
