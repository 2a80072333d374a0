-- docket schema, version 11 (SQLite): bulk jobs by filter, dry runs, reverts, and cases'
-- external ids.
-- `template` is the item every item of the job stored as '' applies (a filter job's
-- `set`, whose items are chosen by the filter when the job is stored); `dry_run` jobs
-- change no case; `revert_of` names the job a revert undoes.
ALTER TABLE jobs ADD COLUMN dry_run INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN revert_of TEXT;
ALTER TABLE jobs ADD COLUMN template TEXT;
-- `external_id`: a case's id in another system, unique when set (bulk create upserts by
-- it); the change log copies it with the rest of the case.
ALTER TABLE cases ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX cases_external_id_key ON cases (external_id) WHERE external_id IS NOT NULL;
ALTER TABLE changes ADD COLUMN external_id TEXT;
-- A bulk create: `upsert_by` ('externalId') makes an item whose external id a case has
-- update that case; each item's result says what it did (`action`: created, updated).
ALTER TABLE jobs ADD COLUMN upsert_by TEXT;
ALTER TABLE job_items ADD COLUMN action TEXT;
