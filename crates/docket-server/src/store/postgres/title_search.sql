-- docket schema, version 5 (PostgreSQL): a trigram index on case titles, for `q`.
-- `GET /api/v1/cases?q=TEXT` (`title ILIKE '%TEXT%'`) walked the listing's index until
-- it had a page of matches; for a TEXT that no title contains, that is every case. A GIN
-- trigram index answers ILIKE '%TEXT%' for TEXT of 3+ characters; a listing names its
-- matches (`seq IN (SELECT seq FROM case_titles WHERE title ILIKE ...)`) and the planner,
-- from the statistics on `case_titles`, scans the index for a rare TEXT and keeps the
-- walk for a common one (store/case_list.rs).
--
-- The index is on a table of its own, `case_titles`, not on `cases`: an update of a
-- case (every bulk change) sets `updated_at`, which is indexed, so it is never a HOT
-- update and would insert the title's trigrams into a GIN index on `cases` again each
-- time (measured on 1,000,000 cases: a 10,000-case field update took ~950 ms instead of
-- ~490 ms). A trigger copies the title only when a case is created, deleted or retitled.
--
-- pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it. An
-- extension is per database while docket's tables may live in a schema of their own
-- (`schema=NAME`), so it goes in `public` unless it is installed already, and the index
-- names its operator class by the schema it is in, wherever that is.
CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;

CREATE TABLE case_titles (
    seq   BIGINT PRIMARY KEY,
    title TEXT   NOT NULL
);
INSERT INTO case_titles (seq, title) SELECT seq, title FROM cases;

CREATE FUNCTION case_titles_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM case_titles WHERE seq = OLD.seq;
    ELSE
        INSERT INTO case_titles (seq, title) VALUES (NEW.seq, NEW.title)
            ON CONFLICT (seq) DO UPDATE SET title = EXCLUDED.title;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER case_titles_insert_delete AFTER INSERT OR DELETE ON cases
    FOR EACH ROW EXECUTE FUNCTION case_titles_sync();
-- The stores' updates set every column, so `UPDATE OF title` alone would fire on all.
CREATE TRIGGER case_titles_retitle AFTER UPDATE OF title ON cases
    FOR EACH ROW WHEN (OLD.title IS DISTINCT FROM NEW.title)
    EXECUTE FUNCTION case_titles_sync();

-- Migrations run in one transaction: building the index blocks writes to `cases`' titles
-- (not reads) once, for the seconds it takes, when the first upgraded node starts.
DO $$
BEGIN
    EXECUTE format(
        'CREATE INDEX case_titles_trgm_idx ON case_titles USING gin (title %I.gin_trgm_ops)',
        (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
          WHERE e.extname = 'pg_trgm'));
END
$$;
ANALYZE case_titles;
