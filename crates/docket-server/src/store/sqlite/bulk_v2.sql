-- docket schema, version 11 (SQLite): bulk jobs by filter, dry runs and reverts.
-- `template` is the item every item of the job stored as '' applies (a filter job's
-- `set`, whose items are chosen by the filter when the job is stored); `dry_run` jobs
-- change no case; `revert_of` names the job a revert undoes.
ALTER TABLE jobs ADD COLUMN dry_run INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN revert_of TEXT;
ALTER TABLE jobs ADD COLUMN template TEXT;
