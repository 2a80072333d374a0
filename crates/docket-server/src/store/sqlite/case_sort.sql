-- docket schema, version 5 (SQLite): listing cases by updatedAt within a status.
-- `GET /api/v1/cases?status=S&sort=-updatedAt` walks this index in order from the
-- cursor's position; without it each page sorted every case in the status. Unfiltered
-- updatedAt listings walk cases_updated_at_idx; createdAt ones cases_status_idx or seq.
CREATE INDEX cases_status_updated_idx ON cases (status, updated_at, seq);
