-- docket schema, version 6 (SQLite): a trigram index on case titles, for `q`.
-- `GET /api/v1/cases?q=TEXT` walked the listing's index until it had a page of titles
-- containing TEXT; for a TEXT that no title contains, that is every case. This
-- external-content FTS5 table holds only the index (the titles stay in `cases`), keyed
-- by `seq`; a search counts its matches here first and, when they are few, lists just
-- those (see store/case_list.rs). `case_sensitive 0` folds case as LIKE does.
CREATE VIRTUAL TABLE cases_title_fts USING fts5(
    title,
    content = 'cases',
    content_rowid = 'seq',
    tokenize = 'trigram case_sensitive 0'
);
-- Kept in step by triggers. The update trigger fires on a change of `title` only, so
-- bulk status or field changes (whose UPDATE names only the changed columns) never
-- touch the index.
CREATE TRIGGER cases_title_fts_insert AFTER INSERT ON cases BEGIN
    INSERT INTO cases_title_fts (rowid, title) VALUES (new.seq, new.title);
END;
CREATE TRIGGER cases_title_fts_delete AFTER DELETE ON cases BEGIN
    INSERT INTO cases_title_fts (cases_title_fts, rowid, title)
        VALUES ('delete', old.seq, old.title);
END;
CREATE TRIGGER cases_title_fts_update AFTER UPDATE OF title ON cases BEGIN
    INSERT INTO cases_title_fts (cases_title_fts, rowid, title)
        VALUES ('delete', old.seq, old.title);
    INSERT INTO cases_title_fts (rowid, title) VALUES (new.seq, new.title);
END;
-- Index the cases that exist already (in one pass over `cases`).
INSERT INTO cases_title_fts (cases_title_fts) VALUES ('rebuild');
