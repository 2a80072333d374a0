//! The case listing's query plans: every order, with and without a status filter, on
//! the first page and after a cursor, walks an index in the listing's order. A plan
//! that sorts (`USE TEMP B-TREE FOR ORDER BY`) would sort every matching case for each
//! page, which at a million cases is the difference between a millisecond and a second.

use rusqlite::Connection;

use super::migrate;
use super::rows::CASE_COLUMNS;
use crate::domain::{Status, Timestamp};
use crate::store::case_list::{Dialect, Param, list_sql};
use crate::store::{CaseFilter, CasePosition, CaseSort};

fn plan(conn: &Connection, f: &CaseFilter) -> String {
    let q = list_sql(f, CASE_COLUMNS, Dialect::Sqlite).unwrap();
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

#[test]
fn every_order_walks_an_index_with_and_without_a_status_filter() {
    let mut conn = Connection::open_in_memory().unwrap();
    migrate(&mut conn).unwrap();
    for sort in CaseSort::ALL {
        let after = if sort.by_updated() {
            CasePosition::Updated(Timestamp(1_700_000_000_000), 42)
        } else {
            CasePosition::Created(42)
        };
        for status in [None, Some(Status::from_stored("Open".into()))] {
            for after in [None, Some(after)] {
                let f = CaseFilter {
                    status: status.clone(),
                    sort,
                    after,
                    limit: 50,
                    ..Default::default()
                };
                let p = plan(&conn, &f);
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
    }
}
