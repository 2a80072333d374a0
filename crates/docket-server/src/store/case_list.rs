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
//! A title search (`q`) also uses the title's trigram index: see [`super::title_search`].

pub use super::sql::{Dialect, ListSql, Param};
use super::title_search::indexable;
pub use super::title_search::{TitleSearch, like_pattern, title_probe_sql};
use super::{CaseFilter, Error, Result};
use crate::domain::{CasePosition, CaseSort};

/// The `ORDER BY` of `sort`.
fn order_by(sort: CaseSort) -> &'static str {
    match sort {
        CaseSort::CreatedAt => "seq",
        CaseSort::CreatedAtDesc => "seq DESC",
        CaseSort::UpdatedAt => "updated_at, seq",
        CaseSort::UpdatedAtDesc => "updated_at DESC, seq DESC",
    }
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
    if let (TitleSearch::Indexed, Some(q), true) = (search, search_q, dialect.probes()) {
        // The index's matches drive the join (CROSS JOIN keeps SQLite from reordering
        // it): each case is looked up by `seq`. As `seq IN (...)`, a status filter
        // would walk every case in the status through its index, testing each.
        let (offered, param) = dialect.title_index(q);
        params.push(param);
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
    if let Some(u) = f.updated_before {
        add("updated_at < ?", vec![Param::Int(u.0)]);
    }
    if let Some(e) = &f.external_id {
        add("external_id = ?", vec![Param::Text(e.clone())]);
    }
    if let Some(q) = search_q.filter(|q| !dialect.probes() && indexable(q)) {
        let (offered, param) = dialect.title_index(q);
        add(&format!("seq IN ({offered})"), vec![param]);
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
        order_by(f.sort),
        dialect.placeholder(params.len())
    );
    Ok(ListSql { sql, params })
}

/// The `INSERT INTO job_items ... SELECT` that stores the cases matching `by` as the
/// items of a job (each stored as `""`: it applies the job's template), in creation
/// order, indexed from 0: at most `by.max + 1` rows, so a match over the limit costs no
/// more than the limit. The job's `seq` binds to the last placeholder, after `params`.
pub fn matches_sql(by: &super::ByFilter, dialect: Dialect) -> Result<ListSql> {
    let f = CaseFilter {
        sort: CaseSort::CreatedAt,
        after: None,
        limit: by.max,
        ..by.filter.clone()
    };
    let q = list_sql(&f, "seq, case_id", dialect, TitleSearch::Walk)?;
    let job = dialect.placeholder(q.params.len() + 1);
    Ok(ListSql {
        sql: format!(
            "INSERT INTO job_items (job_seq, idx, case_id, item) \
             SELECT {job}, row_number() OVER (ORDER BY m.seq) - 1, m.case_id, '' FROM ({}) AS m",
            q.sql
        ),
        params: q.params,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Status, Timestamp};

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
