//! The case listing's query plans: every order, with and without a status filter, on
//! the first page and after a cursor, walks an index in the listing's order. A plan
//! that sorts (`USE TEMP B-TREE FOR ORDER BY`) would sort every matching case for each
//! page, which at a million cases is the difference between a millisecond and a second.
//!
//! A title search under the cap takes its cases from the trigram index instead: the plan
//! looks them up by `seq` and sorts them, a sort bounded by
//! [`INDEXED_MATCHES_MAX`](crate::store::title_search::INDEXED_MATCHES_MAX) cases, not by the
//! table. Over the cap it walks like any other listing.

use rusqlite::Connection;

use super::migrate;
use super::rows::CASE_COLUMNS;
use crate::domain::{Status, Timestamp};
use crate::store::case_list::{Dialect, ListSql, Param, TitleSearch, list_sql, title_probe_sql};
use crate::store::{CaseFilter, CasePosition, CaseSort};

fn plan(conn: &Connection, f: &CaseFilter, search: TitleSearch) -> String {
    let q = list_sql(f, CASE_COLUMNS, Dialect::Sqlite, search).unwrap();
    explain(conn, q)
}

fn explain(conn: &Connection, q: ListSql) -> String {
    let params = q.params.into_iter().map(|p| match p {
        Param::Int(i) => rusqlite::types::Value::Integer(i),
        Param::Text(t) => rusqlite::types::Value::Text(t),
    });
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {}", q.sql))
        .unwrap();
    let rows = stmt
        .query_map(rusqlite::params_from_iter(params), |r| {
            r.get::<_, String>(3)
        })
        .unwrap();
    rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
}

/// Whether a plan walks `cases` (by rowid or through one of its indexes).
fn walks_cases(plan: &str) -> bool {
    plan.split("; ")
        .any(|step| step == "SCAN cases" || step.starts_with("SCAN cases USING"))
}

/// Every listing order, with and without a status filter, on the first page and after a
/// cursor, with each of `titles` as the title filter.
fn listings(titles: &[Option<&str>]) -> Vec<CaseFilter> {
    let mut out = Vec::new();
    for sort in CaseSort::ALL {
        let cursor = if sort.by_updated() {
            CasePosition::Updated(Timestamp(1_700_000_000_000), 42)
        } else {
            CasePosition::Created(42)
        };
        for status in [None, Some(Status::from_stored("Open".into()))] {
            for after in [None, Some(cursor)] {
                for title in titles {
                    out.push(CaseFilter {
                        status: status.clone(),
                        title_contains: title.map(str::to_owned),
                        sort,
                        after,
                        limit: 50,
                        ..Default::default()
                    });
                }
            }
        }
    }
    out
}

#[test]
fn every_order_walks_an_index_with_and_without_a_status_filter() {
    let mut conn = Connection::open_in_memory().unwrap();
    migrate(&mut conn).unwrap();
    for f in listings(&[None, Some("refund")]) {
        let (sort, status, after) = (f.sort, &f.status, f.after);
        let p = plan(&conn, &f, TitleSearch::Walk);
        assert!(
            !p.contains("TEMP B-TREE"),
            "{sort:?} {status:?} {after:?}: {p}"
        );
        let index = match (sort.by_updated(), status.is_some()) {
            (true, true) => "cases_status_updated_idx",
            (true, false) => "cases_updated_at_idx",
            (false, true) => "cases_status_idx",
            (false, false) => "cases",
        };
        assert!(p.contains(index), "{sort:?} {status:?} {after:?}: {p}");
    }
}

#[test]
fn fts5_with_the_trigram_tokenizer_is_compiled_in() {
    let conn = Connection::open_in_memory().unwrap();
    let fts5: i64 = conn
        .query_row("SELECT sqlite_compileoption_used('ENABLE_FTS5')", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(fts5, 1);
    conn.execute_batch(
        "CREATE VIRTUAL TABLE t USING fts5(x, tokenize = 'trigram case_sensitive 0');
         INSERT INTO t (x) VALUES ('Refund for order 42'), ('50% off'), ('500 off');",
    )
    .unwrap();
    let found = |phrase: &str| -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT x FROM t WHERE t MATCH ?1 ORDER BY rowid")
            .unwrap();
        let rows = stmt.query_map([phrase], |r| r.get(0)).unwrap();
        rows.map(Result::unwrap).collect()
    };
    assert_eq!(found("\"REFUND\""), ["Refund for order 42"]);
    assert_eq!(found("\"0% o\""), ["50% off"]);
}

#[test]
fn a_search_under_the_cap_looks_its_cases_up_through_the_trigram_index() {
    let mut conn = Connection::open_in_memory().unwrap();
    migrate(&mut conn).unwrap();
    for f in listings(&[Some("no-such-words")]) {
        let (sort, status, after) = (f.sort, &f.status, f.after);
        let p = plan(&conn, &f, TitleSearch::Indexed);
        // The cases come by `seq` from the index's matches: no walk of `cases` or of one
        // of its indexes, whatever the order or filter; the sort (a temp b-tree) is of
        // the matches only.
        assert!(
            p.starts_with("SCAN cases_title_fts VIRTUAL TABLE INDEX")
                && p.contains("SEARCH cases USING INTEGER PRIMARY KEY (rowid=?)")
                && !walks_cases(&p),
            "{sort:?} {status:?} {after:?}: {p}"
        );
    }
    let f = CaseFilter {
        title_contains: Some("no-such-words".into()),
        ..Default::default()
    };
    let probe = explain(&conn, title_probe_sql(&f, Dialect::Sqlite).unwrap());
    assert!(
        probe.contains("SCAN cases_title_fts VIRTUAL TABLE INDEX") && !walks_cases(&probe),
        "{probe}"
    );
    // A trigram index finds nothing shorter than three characters: no probe, a walk.
    for q in ["ab", "é€"] {
        let f = CaseFilter {
            title_contains: Some(q.into()),
            ..Default::default()
        };
        assert!(title_probe_sql(&f, Dialect::Sqlite).is_none());
    }
}
