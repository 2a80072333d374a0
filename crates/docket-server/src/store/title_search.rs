//! Title search (`q`): the trigram index on case titles and how a listing uses it.
//!
//! A title search (`q`) cannot be served by a walk alone: the walk stops after a page of
//! matches, which for a common word is soon, but for a word no title contains is never
//! before the end of the table. So both backends keep a trigram index on the title (an
//! FTS5 table on SQLite; on PostgreSQL a GIN `pg_trgm` index on `case_titles`, a copy of
//! the titles kept by trigger, so that updates of cases, never HOT, do not insert into
//! it). SQLite has no statistics on the FTS table, so there a search of 3+ characters
//! first counts, up to [`INDEXED_MATCHES_MAX`], the cases the index offers
//! ([`title_probe_sql`]); when they are fewer ([`TitleSearch::Indexed`]) the listing takes
//! just those and sorts them (a bounded sort, so no longer an index walk), otherwise it
//! walks as before, and at least that many matches fill a page quickly. PostgreSQL's
//! planner makes that choice itself from its statistics on `case_titles`: the listing
//! names the index's matches (`seq IN (...)`) and the plan is either a bitmap scan of the
//! index joined to `cases` or the walk joined to `case_titles` by `seq`. Either way the
//! `LIKE` on `cases` stays, so the index only narrows and never changes what matches.
//! A trigram index finds nothing for 1 or 2 characters: such a search always walks.

use super::CaseFilter;
use super::sql::{Dialect, ListSql, Param};

impl Dialect {
    /// Whether a listing counts its search's matches in the title index first, to choose
    /// between the index and the walk; otherwise the planner chooses, from statistics
    /// that SQLite does not keep on an FTS table.
    pub(super) fn probes(self) -> bool {
        matches!(self, Self::Sqlite)
    }

    /// The query giving, as `hit`, the `seq`s of the cases the title index offers for
    /// `q` (at least every case whose title contains it), with `?` for its parameter, and
    /// that parameter.
    pub(super) fn title_index(self, q: &str) -> (&'static str, Param) {
        match self {
            Self::Sqlite => (
                "SELECT rowid AS hit FROM cases_title_fts WHERE cases_title_fts MATCH ?",
                Param::Text(fts_phrase(q)),
            ),
            Self::Postgres => (
                "SELECT seq AS hit FROM case_titles WHERE title ILIKE ? ESCAPE '\\'",
                Param::Text(like_pattern(q)),
            ),
        }
    }
}

/// Most cases a search may match for its listing to take them from the title index: the
/// probe stops counting here, and the listing sorts at most this many cases.
pub const INDEXED_MATCHES_MAX: i64 = 2000;

/// How a listing finds the titles that contain `q`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TitleSearch {
    /// Test each title met on the walk in the listing's order.
    #[default]
    Walk,
    /// Take only the cases the title index offers (fewer than [`INDEXED_MATCHES_MAX`]).
    Indexed,
}

impl TitleSearch {
    /// The choice for a search whose probe counted `matches` (capped at the maximum).
    pub fn for_matches(matches: i64) -> Self {
        if matches < INDEXED_MATCHES_MAX {
            Self::Indexed
        } else {
            Self::Walk
        }
    }
}

/// The query counting, up to [`INDEXED_MATCHES_MAX`], the cases the title index offers
/// for `f`'s search; its one row is the count. `None` when there is no search, when it is
/// shorter than a trigram (the index finds nothing: such a search walks) or when the
/// planner chooses (PostgreSQL): then the listing is [`TitleSearch::Walk`].
pub fn title_probe_sql(f: &CaseFilter, dialect: Dialect) -> Option<ListSql> {
    let q = f.title_contains.as_deref().filter(|q| indexable(q))?;
    if !dialect.probes() {
        return None;
    }
    let (offered, param) = dialect.title_index(q);
    let offered = offered.replace('?', &dialect.placeholder(1));
    Some(ListSql {
        sql: format!("SELECT count(*) FROM ({offered} LIMIT {INDEXED_MATCHES_MAX}) offered"),
        params: vec![param],
    })
}

/// Whether a trigram index can find the titles containing `q`: not when it is shorter
/// than a trigram.
pub(super) fn indexable(q: &str) -> bool {
    q.chars().count() >= 3
}

/// `q` as an FTS5 phrase (`"` doubled inside `"..."`): with the trigram tokenizer it
/// matches the titles containing `q`, every character literal. (`LIKE` on the FTS table
/// would need `ESCAPE` for `%` and `_`, and a three-argument `LIKE` is not offered to the
/// table's index, so it would scan it.)
fn fts_phrase(q: &str) -> String {
    format!("\"{}\"", q.replace('"', "\"\""))
}

/// `%q%` with `%`, `_` and `\` escaped by `\`, so the text matches itself.
pub fn like_pattern(q: &str) -> String {
    let mut p = String::with_capacity(q.len() + 2);
    p.push('%');
    for c in q.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::case_list::list_sql;

    #[test]
    fn like_metacharacters_are_escaped() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
        assert_eq!(like_pattern("Plain"), "%Plain%");
    }

    #[test]
    fn a_search_takes_the_index_under_the_cap_and_quotes_its_phrase() {
        assert_eq!(fts_phrase("say \"hi\" 50%"), "\"say \"\"hi\"\" 50%\"");
        assert_eq!(TitleSearch::for_matches(0), TitleSearch::Indexed);
        assert_eq!(TitleSearch::for_matches(1999), TitleSearch::Indexed);
        assert_eq!(TitleSearch::for_matches(2000), TitleSearch::Walk);
        let f = CaseFilter {
            title_contains: Some("50%".into()),
            ..Default::default()
        };
        assert!(title_probe_sql(&f, Dialect::Postgres).is_none());
        let q = list_sql(&f, "seq", Dialect::Postgres, TitleSearch::Walk).unwrap();
        assert_eq!(
            q.sql,
            "SELECT seq FROM cases WHERE seq IN (SELECT seq AS hit FROM case_titles \
             WHERE title ILIKE $1 ESCAPE '\\') AND title ILIKE $2 ESCAPE '\\' \
             ORDER BY seq LIMIT $3"
        );
    }
}
