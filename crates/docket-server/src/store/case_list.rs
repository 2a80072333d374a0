//! Listing cases: the orders a listing takes, positions in them, and the one query both
//! backends run for a [`CaseFilter`] (they differ in placeholders, in the
//! case-insensitive `LIKE` and in how a title search uses the title's trigram index).
//!
//! Paging is by keyset, never by offset: a page starts strictly after the previous
//! page's last case in the listing's order, so the thousandth page costs what the first
//! does. Every order ends on `seq` (unique, increasing with creation), so a position is
//! exact even when many cases share an `updated_at`, and a page boundary inside such a
//! run neither skips nor repeats a case. Each order and filter is served by an index
//! walk in that order (`seq`, `cases_status_idx`, `cases_updated_at_idx`,
//! `cases_status_updated_idx`), so no page sorts the table.
//!
//! A case changed while a client pages by `updatedAt` moves in that order: it may show
//! again later (ascending) or not at all (descending). That is what ordering by a
//! changing key means; the createdAt orders never move.
//!
//! A title search (`q`) cannot be served by a walk alone: the walk stops after a page of
//! matches, which for a common word is soon, but for a word no title contains is never
//! before the end of the table. On SQLite, a trigram index on the title (an FTS5 table,
//! without statistics) bounds it: a search of 3+ characters first counts, up to
//! [`INDEXED_MATCHES_MAX`], the cases the index offers ([`title_probe_sql`]); when they
//! are fewer ([`TitleSearch::Indexed`]) the listing takes just those and sorts them (a
//! bounded sort, so no longer an index walk), otherwise it walks as before, and at least
//! that many matches fill a page quickly. Either way the `LIKE` stays, so the index only
//! narrows and never changes what matches. A trigram index finds nothing for 1 or 2
//! characters: such a search always walks. PostgreSQL has no title index yet: there the
//! listing is always written as a walk.

use super::{CaseFilter, Error, Result};
use crate::domain::{Case, Timestamp};

/// The order of a case listing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum CaseSort {
    /// Creation order (`seq`), oldest first.
    #[default]
    CreatedAt,
    /// Creation order, newest first.
    CreatedAtDesc,
    /// `(updated_at, seq)`, least recently changed first.
    UpdatedAt,
    /// `(updated_at, seq)`, most recently changed first.
    UpdatedAtDesc,
}

impl CaseSort {
    pub const ALL: [CaseSort; 4] = [
        Self::CreatedAt,
        Self::CreatedAtDesc,
        Self::UpdatedAt,
        Self::UpdatedAtDesc,
    ];

    pub fn descending(self) -> bool {
        matches!(self, Self::CreatedAtDesc | Self::UpdatedAtDesc)
    }

    /// Whether the order is by `updated_at` (then `seq`) rather than `seq` alone.
    pub fn by_updated(self) -> bool {
        matches!(self, Self::UpdatedAt | Self::UpdatedAtDesc)
    }

    /// The position of a case (stored as `seq`) in this order.
    pub fn position(self, seq: i64, case: &Case) -> CasePosition {
        if self.by_updated() {
            CasePosition::Updated(case.updated_at, seq)
        } else {
            CasePosition::Created(seq)
        }
    }

    fn order_by(self) -> &'static str {
        match self {
            Self::CreatedAt => "seq",
            Self::CreatedAtDesc => "seq DESC",
            Self::UpdatedAt => "updated_at, seq",
            Self::UpdatedAtDesc => "updated_at DESC, seq DESC",
        }
    }
}

impl From<docket_api::CaseSort> for CaseSort {
    fn from(s: docket_api::CaseSort) -> Self {
        match s {
            docket_api::CaseSort::CreatedAt => Self::CreatedAt,
            docket_api::CaseSort::CreatedAtDesc => Self::CreatedAtDesc,
            docket_api::CaseSort::UpdatedAt => Self::UpdatedAt,
            docket_api::CaseSort::UpdatedAtDesc => Self::UpdatedAtDesc,
        }
    }
}

impl From<CaseSort> for docket_api::CaseSort {
    fn from(s: CaseSort) -> Self {
        match s {
            CaseSort::CreatedAt => Self::CreatedAt,
            CaseSort::CreatedAtDesc => Self::CreatedAtDesc,
            CaseSort::UpdatedAt => Self::UpdatedAt,
            CaseSort::UpdatedAtDesc => Self::UpdatedAtDesc,
        }
    }
}

/// A case's key in a listing's order: where the next page starts (exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CasePosition {
    /// `seq`, in the createdAt orders.
    Created(i64),
    /// `(updated_at, seq)`, in the updatedAt orders.
    Updated(Timestamp, i64),
}

impl CasePosition {
    /// Whether this is a position in `sort`'s order.
    pub fn fits(self, sort: CaseSort) -> bool {
        matches!(self, Self::Updated(..)) == sort.by_updated()
    }
}

/// The SQL flavour a query is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    fn placeholder(self, n: usize) -> String {
        match self {
            Self::Sqlite => format!("?{n}"),
            Self::Postgres => format!("${n}"),
        }
    }

    /// The `seq`s of the cases the title index offers for the phrase bound to `?`, where
    /// the listing chooses when to use it.
    fn title_index(self) -> Option<&'static str> {
        match self {
            Self::Sqlite => {
                Some("SELECT rowid AS hit FROM cases_title_fts WHERE cases_title_fts MATCH ?")
            }
            Self::Postgres => None,
        }
    }

    /// Case-insensitive LIKE: SQLite's `LIKE` already ignores ASCII case.
    fn ilike(self) -> &'static str {
        match self {
            Self::Sqlite => "LIKE",
            Self::Postgres => "ILIKE",
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
/// shorter than a trigram (the index finds nothing), or when the backend has no title
/// index (PostgreSQL): then the listing is [`TitleSearch::Walk`].
pub fn title_probe_sql(f: &CaseFilter, dialect: Dialect) -> Option<ListSql> {
    let q = f.title_contains.as_deref()?;
    if q.chars().count() < 3 {
        return None;
    }
    let offered = dialect.title_index()?.replace('?', &dialect.placeholder(1));
    Some(ListSql {
        sql: format!("SELECT count(*) FROM ({offered} LIMIT {INDEXED_MATCHES_MAX}) offered"),
        params: vec![Param::Text(fts_phrase(q))],
    })
}

/// `q` as an FTS5 phrase (`"` doubled inside `"..."`): with the trigram tokenizer it
/// matches the titles containing `q`, every character literal. (`LIKE` on the FTS table
/// would need `ESCAPE` for `%` and `_`, and a three-argument `LIKE` is not offered to the
/// table's index, so it would scan it.)
fn fts_phrase(q: &str) -> String {
    format!("\"{}\"", q.replace('"', "\"\""))
}

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param {
    Int(i64),
    Text(String),
}

/// A query and its parameters, `params[i]` bound to placeholder `i + 1`.
#[derive(Debug, Clone)]
pub struct ListSql {
    pub sql: String,
    pub params: Vec<Param>,
}

/// The `SELECT {columns} FROM cases ...` that fetches one page of `f` plus one row (to
/// know whether more follow), finding its search by `search`. `Other` when `f.after` is a
/// position of another order.
pub fn list_sql(
    f: &CaseFilter,
    columns: &str,
    dialect: Dialect,
    search: TitleSearch,
) -> Result<ListSql> {
    let mut wheres: Vec<String> = Vec::new();
    let mut params: Vec<Param> = Vec::new();
    let mut from = String::from("cases");
    let search_q = f.title_contains.as_deref().filter(|q| !q.is_empty());
    if let (TitleSearch::Indexed, Some(q), Some(offered)) =
        (search, search_q, dialect.title_index())
    {
        // The index's matches drive the join (CROSS JOIN keeps SQLite from reordering
        // it): each case is looked up by `seq`. As `seq IN (...)`, a status filter
        // would walk every case in the status through its index, testing each.
        params.push(Param::Text(fts_phrase(q)));
        let offered = offered.replace('?', &dialect.placeholder(params.len()));
        from = format!("({offered}) AS hits CROSS JOIN cases");
        wheres.push("seq = hits.hit".into());
    }
    // Each `?` of a clause becomes the next numbered placeholder, bound to its value.
    let mut add = |clause: &str, values: Vec<Param>| {
        let mut parts = clause.split('?');
        let mut sql = parts.next().unwrap_or_default().to_owned();
        for (part, v) in parts.zip(values) {
            params.push(v);
            sql.push_str(&dialect.placeholder(params.len()));
            sql.push_str(part);
        }
        wheres.push(sql);
    };
    if let Some(s) = &f.status {
        add("status = ?", vec![Param::Text(s.as_str().to_owned())]);
    }
    if let Some(a) = &f.assignee {
        add("assignee = ?", vec![Param::Text(a.clone())]);
    }
    if let Some(t) = &f.tag {
        add(
            "seq IN (SELECT case_seq FROM case_tags WHERE tag = ?)",
            vec![Param::Text(t.clone())],
        );
    }
    if let Some(u) = f.updated_since {
        add("updated_at >= ?", vec![Param::Int(u.0)]);
    }
    if let Some(q) = search_q {
        add(
            &format!("title {} ? ESCAPE '\\'", dialect.ilike()),
            vec![Param::Text(like_pattern(q))],
        );
    }
    let cmp = if f.sort.descending() { "<" } else { ">" };
    match f.after {
        None => {}
        Some(CasePosition::Created(seq)) if !f.sort.by_updated() => {
            add(&format!("seq {cmp} ?"), vec![Param::Int(seq)]);
        }
        // A row value compares lexicographically, which is the order's; both engines
        // turn it into a range on the index that serves the order.
        Some(CasePosition::Updated(at, seq)) if f.sort.by_updated() => add(
            &format!("(updated_at, seq) {cmp} (?, ?)"),
            vec![Param::Int(at.0), Param::Int(seq)],
        ),
        Some(p) => {
            return Err(Error::Other(anyhow::anyhow!(
                "position {p:?} is not one of a {:?} listing",
                f.sort
            )));
        }
    }
    params.push(Param::Int(i64::from(f.limit) + 1));
    let filter = if wheres.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", wheres.join(" AND "))
    };
    let sql = format!(
        "SELECT {columns} FROM {from}{filter} ORDER BY {} LIMIT {}",
        f.sort.order_by(),
        dialect.placeholder(params.len())
    );
    Ok(ListSql { sql, params })
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
    use crate::domain::Status;

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
    }

    #[test]
    fn descending_updated_listing_after_a_position_binds_it_as_a_row_value() {
        let f = CaseFilter {
            status: Some(Status::from_stored("Open".into())),
            title_contains: Some("x".into()),
            sort: CaseSort::UpdatedAtDesc,
            after: Some(CasePosition::Updated(Timestamp(7), 3)),
            limit: 10,
            ..Default::default()
        };
        let q = list_sql(&f, "seq", Dialect::Postgres, TitleSearch::Walk).unwrap();
        assert_eq!(
            q.sql,
            "SELECT seq FROM cases WHERE status = $1 AND title ILIKE $2 ESCAPE '\\' \
             AND (updated_at, seq) < ($3, $4) ORDER BY updated_at DESC, seq DESC LIMIT $5"
        );
        assert_eq!(
            q.params,
            [
                Param::Text("Open".into()),
                Param::Text("%x%".into()),
                Param::Int(7),
                Param::Int(3),
                Param::Int(11)
            ]
        );
        let q = list_sql(
            &CaseFilter::default(),
            "seq",
            Dialect::Sqlite,
            TitleSearch::Walk,
        )
        .unwrap();
        assert_eq!(q.sql, "SELECT seq FROM cases ORDER BY seq LIMIT ?1");
        let f = CaseFilter {
            sort: CaseSort::UpdatedAt,
            after: Some(CasePosition::Updated(Timestamp(7), 3)),
            ..Default::default()
        };
        let q = list_sql(&f, "seq", Dialect::Sqlite, TitleSearch::Walk).unwrap();
        assert_eq!(
            q.sql,
            "SELECT seq FROM cases WHERE (updated_at, seq) > (?1, ?2) ORDER BY updated_at, seq LIMIT ?3"
        );
    }

    #[test]
    fn a_position_of_another_order_is_refused() {
        let f = CaseFilter {
            sort: CaseSort::UpdatedAt,
            after: Some(CasePosition::Created(3)),
            ..Default::default()
        };
        assert!(list_sql(&f, "seq", Dialect::Sqlite, TitleSearch::Walk).is_err());
        assert!(CasePosition::Created(3).fits(CaseSort::CreatedAtDesc));
        assert!(!CasePosition::Updated(Timestamp(1), 3).fits(CaseSort::CreatedAt));
    }
}
