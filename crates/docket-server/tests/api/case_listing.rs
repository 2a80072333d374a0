//! `GET /api/v1/cases` with `q` (title search) and `sort`: matching, every order paged
//! by cursor with filters, and the refusals (a cursor of another order, a bad sort, a
//! search too long).

use docket_api::{Case, CaseQuery, CaseSort};
use docket_server::domain::{Status, Timestamp};
use docket_server::store::ImportCase;
use serde_json::json;

use crate::helpers::{TestApp, assert_problem, spawn_app};

/// Titles found by `q`, in listing order.
async fn titles(app: &TestApp, q: &str, status: Option<&str>) -> Vec<String> {
    let query = CaseQuery {
        q: Some(q.into()),
        status: status.map(str::to_owned),
        limit: Some(100),
        ..Default::default()
    };
    let page = app.client.list_cases(&query).await.unwrap();
    page.items.into_iter().map(|c| c.title).collect()
}

backend_test! {
    async fn title_search_ignores_case_and_takes_percent_underscore_and_backslash_literally() {
        let app = spawn_app().await;
        for (title, status) in [
            ("Refund for order 42", "Open"),
            ("REFUND requested twice", "Pending"),
            ("Customer was refunded", "Open"),
            ("Printer jam", "Open"),
            ("50% off coupon misapplied", "Open"),
            ("500 off coupon misapplied", "Open"),
            ("snake_case field name", "Open"),
            ("snakeXcase field name", "Open"),
            ("path C:\\temp is full", "Open"),
        ] {
            app.create(json!({"title": title, "status": status})).await;
        }
        assert_eq!(
            titles(&app, "refund", None).await,
            ["Refund for order 42", "REFUND requested twice", "Customer was refunded"]
        );
        assert_eq!(
            titles(&app, "rEfUnD", Some("open")).await,
            ["Refund for order 42", "Customer was refunded"]
        );
        // Unescaped, `50%` would match "500 off", `%` everything and `e_c` "snakeXcase".
        assert_eq!(titles(&app, "50%", None).await, ["50% off coupon misapplied"]);
        assert_eq!(titles(&app, "0% ", None).await, ["50% off coupon misapplied"]);
        assert_eq!(titles(&app, "e_c", None).await, ["snake_case field name"]);
        assert_eq!(titles(&app, "e_case", None).await, ["snake_case field name"]);
        assert_eq!(titles(&app, "C:\\temp", None).await, ["path C:\\temp is full"]);
        assert_eq!(titles(&app, ":\\t", None).await, ["path C:\\temp is full"]);
        assert!(titles(&app, "nothing like it", None).await.is_empty());
        // An empty search filters nothing.
        assert_eq!(titles(&app, "", None).await.len(), 9);

        let (s, _, b) = app.raw("GET", &format!("/api/v1/cases?q={}", "a".repeat(200)), None).await;
        assert_eq!(s, 200, "{b}");
        let (s, h, b) = app.raw("GET", &format!("/api/v1/cases?q={}", "a".repeat(201)), None).await;
        assert_problem(s, &h, &b, 400, "invalid_query");
        assert_eq!(b["errors"][0]["field"], "q");
    }
}

/// Imports `n` cases whose `updated_at` takes only five values (so many cases tie, and
/// page boundaries fall inside ties) and whose status, assignee, tag and title vary.
async fn import_mixed(app: &TestApp, n: u64) {
    let statuses: Vec<Status> = app.state.workflow.non_terminal().cloned().collect();
    let base = Timestamp(1_750_000_000_000);
    let cases = (1..=n)
        .map(|i| {
            let mut c = docket_server::demo::demo_case(i, &statuses, base).case;
            c.status = Status::from_stored(if i % 3 == 0 { "Pending" } else { "Open" }.into());
            c.assignee = Some(if i % 2 == 0 { "alice" } else { "bob" }.into());
            c.tags = if i % 4 == 0 {
                vec!["vip".into()]
            } else {
                Vec::new()
            };
            c.title = format!("{} #{i}", if i % 5 < 3 { "Refund" } else { "Printer" });
            c.created_at = Timestamp(base.0 + i64::try_from(i).unwrap());
            // Reverse creation order, in five runs of equal times.
            c.updated_at = Timestamp(base.0 + 60_000 - i64::try_from(i % 5).unwrap() * 1000);
            ImportCase {
                case: c,
                tasks: Vec::new(),
            }
        })
        .collect();
    app.state.engine.store.import_cases(cases).await.unwrap();
}

/// Every page of a listing, following `nextCursor` with `limit` per page; the case ids
/// and the number of pages.
async fn all_pages(app: &TestApp, mut q: CaseQuery, limit: u32) -> (Vec<String>, usize) {
    q.limit = Some(limit);
    let (mut ids, mut pages) = (Vec::new(), 0);
    loop {
        let page = app.client.list_cases(&q).await.unwrap();
        pages += 1;
        assert!(page.items.len() <= limit as usize);
        ids.extend(page.items.into_iter().map(|c| c.case_id));
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => return (ids, pages),
        }
    }
}

/// A listing's query and the cases it should keep.
type Filter = (CaseQuery, fn(&Case) -> bool);

/// `cases` in `sort`'s order, computed here: generated ids follow creation order, and
/// RFC 3339 times of equal width sort as text.
fn sorted(mut cases: Vec<Case>, sort: CaseSort) -> Vec<String> {
    match sort {
        CaseSort::CreatedAt | CaseSort::CreatedAtDesc => {
            cases.sort_by(|a, b| a.case_id.cmp(&b.case_id));
        }
        CaseSort::UpdatedAt | CaseSort::UpdatedAtDesc => {
            cases.sort_by(|a, b| (&a.updated_at, &a.case_id).cmp(&(&b.updated_at, &b.case_id)));
        }
    }
    if matches!(sort, CaseSort::CreatedAtDesc | CaseSort::UpdatedAtDesc) {
        cases.reverse();
    }
    cases.into_iter().map(|c| c.case_id).collect()
}

backend_test! {
    async fn every_sort_pages_in_order_with_filters_and_no_gaps_or_repeats() {
        let app = spawn_app().await;
        import_mixed(&app, 60).await;
        let everything = all_pages(&app, CaseQuery::default(), 1000).await.0;
        assert_eq!(everything.len(), 60);
        let all = app
            .client
            .list_cases(&CaseQuery { limit: Some(1000), ..Default::default() })
            .await
            .unwrap()
            .items;
        // Base + 58 s: the three latest of the five change times.
        let since = "2025-06-15T15:07:38.000Z";
        let filters: [Filter; 3] = [
            (
                CaseQuery { status: Some("open".into()), ..Default::default() },
                |c| c.status == "Open",
            ),
            (
                CaseQuery {
                    status: Some("Open".into()),
                    assignee: Some("alice".into()),
                    q: Some("REFUND".into()),
                    ..Default::default()
                },
                |c| c.status == "Open" && c.assignee.as_deref() == Some("alice") && c.title.starts_with("Refund"),
            ),
            (
                CaseQuery {
                    tag: Some("vip".into()),
                    updated_since: Some(since.into()),
                    ..Default::default()
                },
                |c| c.tags.contains(&"vip".to_owned()) && c.updated_at.as_str() >= "2025-06-15T15:07:38.000Z",
            ),
        ];
        for (filter, keep) in filters {
            let matching: Vec<Case> = all.iter().filter(|c| keep(c)).cloned().collect();
            assert!(matching.len() >= 7, "{filter:?} matches only {}", matching.len());
            assert!(matching.len() < 60);
            for sort in CaseSort::ALL {
                let want = sorted(matching.clone(), sort);
                let q = CaseQuery { sort: Some(sort), ..filter.clone() };
                let (got, pages) = all_pages(&app, q, 2).await;
                assert!(pages >= 3, "{sort}: {pages} pages");
                assert_eq!(got, want, "{sort} with {filter:?}");
            }
            // The updatedAt orders are not creation order in disguise.
            assert_ne!(
                sorted(matching.clone(), CaseSort::UpdatedAt),
                sorted(matching, CaseSort::CreatedAt)
            );
        }
    }
}

backend_test! {
    async fn a_cursor_continues_only_the_sort_it_came_from() {
        let app = spawn_app().await;
        import_mixed(&app, 10).await;
        let mut cursors = Vec::new();
        for sort in CaseSort::ALL {
            let q = CaseQuery { sort: Some(sort), limit: Some(3), ..Default::default() };
            let cursor = app.client.list_cases(&q).await.unwrap().next_cursor.unwrap();
            // Its own sort takes it (explicitly named or, for createdAt, by default).
            let again = CaseQuery { cursor: Some(cursor.clone()), ..q };
            assert_eq!(app.client.list_cases(&again).await.unwrap().items.len(), 3);
            cursors.push((sort, cursor));
        }
        let default_cursor = &cursors[0].1;
        let plain = CaseQuery { cursor: Some(default_cursor.clone()), ..Default::default() };
        assert!(app.client.list_cases(&plain).await.is_ok());
        for (from, cursor) in &cursors {
            for sort in CaseSort::ALL.into_iter().filter(|s| s != from) {
                let (s, h, b) = app
                    .raw("GET", &format!("/api/v1/cases?sort={sort}&cursor={cursor}"), None)
                    .await;
                assert_problem(s, &h, &b, 400, "invalid_cursor");
                assert_eq!(b["errors"][0]["field"], "cursor", "{from} -> {sort}");
            }
        }
        // A cursor of an ordered sort given with no sort (createdAt) is refused too.
        let (s, h, b) = app
            .raw("GET", &format!("/api/v1/cases?cursor={}", cursors[3].1), None)
            .await;
        assert_problem(s, &h, &b, 400, "invalid_cursor");
        // The cursors of before (`n<seq>`) still continue the default order.
        let (s, _, b) = app.raw("GET", "/api/v1/cases?cursor=n5&limit=2", None).await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["items"][0]["caseId"], "CASE-000006");
        for bad in ["x1", "updatedAt.1", "updatedAtDesc.a.1", "n-1", "-updatedAt.1.2"] {
            let (s, h, b) = app
                .raw("GET", &format!("/api/v1/cases?sort=updatedAt&cursor={bad}"), None)
                .await;
            assert_problem(s, &h, &b, 400, "invalid_cursor");
        }
    }
}

backend_test! {
    async fn an_unknown_sort_is_400_naming_sort() {
        let app = spawn_app().await;
        for bad in ["title", "CreatedAt", "-updated_at", "", "+createdAt"] {
            let (s, h, b) = app.raw("GET", &format!("/api/v1/cases?sort={bad}"), None).await;
            assert_problem(s, &h, &b, 400, "invalid_query");
            assert_eq!(b["errors"][0]["field"], "sort", "{bad}: {b}");
        }
        // Any bad value is named by its parameter, not by the value.
        let (s, h, b) = app.raw("GET", "/api/v1/cases?limit=title", None).await;
        assert_problem(s, &h, &b, 400, "invalid_query");
        assert_eq!(b["errors"][0]["field"], "limit", "{b}");
        for good in ["createdAt", "-createdAt", "updatedAt", "-updatedAt"] {
            let (s, _, b) = app.raw("GET", &format!("/api/v1/cases?sort={good}"), None).await;
            assert_eq!(s, 200, "{good}: {b}");
        }
    }
}

backend_test! {
    async fn a_changed_case_comes_first_in_minus_updated_at_and_last_in_updated_at() {
        let app = spawn_app().await;
        import_mixed(&app, 12).await;
        let patch = docket_api::CasePatch {
            title: Some("Refund, edited".into()),
            ..Default::default()
        };
        let edited = app.client.update_case("CASE-000007", &patch, None).await.unwrap().body;
        let first = |sort| CaseQuery { sort: Some(sort), limit: Some(1), ..Default::default() };
        let newest = app.client.list_cases(&first(CaseSort::UpdatedAtDesc)).await.unwrap();
        assert_eq!(newest.items, [edited]);
        let (ids, _) = all_pages(&app, CaseQuery { sort: Some(CaseSort::UpdatedAt), ..Default::default() }, 5).await;
        assert_eq!(ids.len(), 12);
        assert_eq!(ids.last().map(String::as_str), Some("CASE-000007"));
        // Creation order does not move.
        let oldest = app.client.list_cases(&first(CaseSort::CreatedAt)).await.unwrap();
        assert_eq!(oldest.items[0].case_id, "CASE-000001");
        let newest = app.client.list_cases(&first(CaseSort::CreatedAtDesc)).await.unwrap();
        assert_eq!(newest.items[0].case_id, "CASE-000012");
    }
}

backend_test! {
    async fn a_nul_in_a_text_filter_is_400_naming_it_not_a_500() {
        let app = spawn_app().await;
        for (param, value) in [("q", "ab%00cd"), ("q", "%00"), ("assignee", "a%00"), ("tag", "%00vip")] {
            let (s, h, b) = app
                .raw("GET", &format!("/api/v1/cases?{param}={value}"), None)
                .await;
            assert_problem(s, &h, &b, 400, "invalid_query");
            assert_eq!(b["errors"][0]["field"], param, "{param}={value}: {b}");
        }
    }
}
