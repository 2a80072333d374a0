-- docket schema, version 10 (PostgreSQL): bulk jobs by filter, dry runs and reverts.
-- `template` is the item every item of the job stored as '' applies (a filter job's
-- `set`, whose items are chosen by the filter when the job is stored); `dry_run` jobs
-- change no case; `revert_of` names the job a revert undoes.
ALTER TABLE jobs ADD COLUMN dry_run BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE jobs ADD COLUMN revert_of TEXT;
ALTER TABLE jobs ADD COLUMN template TEXT;
