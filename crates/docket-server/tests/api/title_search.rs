//! `GET /api/v1/cases?q=` through the title's trigram index: a rare search (fewer than
//! the cap of matches, taken from the index) and a common one (walked as before) list
//! exactly the cases a plain scan would, in every order and across pages; the index
//! follows title changes; searches under 3 characters are refused; LIKE metacharacters
//! match themselves.

use docket_api::{CaseQuery, CaseSort};
use docket_server::domain::{Status, Timestamp};
use docket_server::store::ImportCase;
use serde_json::json;

use crate::helpers::{TestApp, assert_problem, spawn_app};

/// Cases imported: above the index's cap of 2,000 matches for "refund".
const N: u64 = 2_200;

/// The title of imported case `i`: "Refund ..." for all but every 400th, which is a
/// "Printer jam"; "order #1..." matches 1,111 cases, under the cap.
fn title(i: u64) -> String {
    if i % 400 == 0 {
        format!("Printer jam #{i}")
    } else {
        format!("Refund for order #{i}")
    }
}

/// A time shared by a seventh of the cases, so updatedAt pages break inside ties.
fn updated(i: u64) -> i64 {
    1_750_000_000_000 + i64::try_from(i % 7).unwrap() * 1000
}

async fn import(app: &TestApp) {
    let statuses: Vec<Status> = app.state.workflow.non_terminal().cloned().collect();
    let base = Timestamp(1_750_000_000_000);
    let cases = (1..=N)
        .map(|i| {
            let mut c = docket_server::demo::demo_case(i, &statuses, base).case;
            c.title = title(i);
            c.created_at = Timestamp(base.0 - 1_000_000 + i64::try_from(i).unwrap());
            c.updated_at = Timestamp(updated(i));
            ImportCase {
                case: c,
                tasks: Vec::new(),
            }
        })
        .collect();
    app.state.engine.store.import_cases(cases).await.unwrap();
}

/// The ids of the imported cases whose title contains `q` (ASCII case ignored), in
/// `sort`'s order: what a scan of every title finds.
fn expected(q: &str, sort: CaseSort) -> Vec<String> {
    let q = q.to_ascii_lowercase();
    let mut hits: Vec<u64> = (1..=N)
        .filter(|&i| title(i).to_ascii_lowercase().contains(&q))
        .collect();
    if matches!(sort, CaseSort::UpdatedAt | CaseSort::UpdatedAtDesc) {
        hits.sort_by_key(|&i| (updated(i), i));
    }
    if matches!(sort, CaseSort::CreatedAtDesc | CaseSort::UpdatedAtDesc) {
        hits.reverse();
    }
    hits.into_iter().map(|i| format!("CASE-{i:06}")).collect()
}

/// The ids of the first `pages` pages of `limit` cases matching `q` in `sort`'s order.
async fn pages(app: &TestApp, q: &str, sort: CaseSort, limit: u32, pages: usize) -> Vec<String> {
    let mut query = CaseQuery {
        q: Some(q.into()),
        sort: Some(sort),
        limit: Some(limit),
        ..Default::default()
    };
    let mut ids = Vec::new();
    for _ in 0..pages {
        let page = app.client.list_cases(&query).await.unwrap();
        ids.extend(page.items.into_iter().map(|c| c.case_id));
        match page.next_cursor {
            Some(c) => query.cursor = Some(c),
            None => break,
        }
    }
    ids
}

/// `s` percent-encoded byte by byte (every byte but ASCII letters and digits).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Titles found by `q`, in creation order.
async fn titles(app: &TestApp, q: &str) -> Vec<String> {
    let query = CaseQuery {
        q: Some(q.into()),
        limit: Some(100),
        ..Default::default()
    };
    app.client
        .list_cases(&query)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|c| c.title)
        .collect()
}

backend_test! {
    async fn rare_and_common_searches_list_what_a_scan_finds_in_every_order_across_pages() {
        let app = spawn_app().await;
        import(&app).await;
        for sort in CaseSort::ALL {
            // Rare: 5 matches, from the index, two per page.
            let want = expected("PRINTER jam", sort);
            assert_eq!(want.len(), 5);
            assert_eq!(pages(&app, "PRINTER jam", sort, 2, 10).await, want, "{sort}");
            // Under the cap but many: every page of 100, the last one short.
            let want = expected("order #1", sort);
            assert_eq!(want.len(), 1_109);
            assert_eq!(pages(&app, "order #1", sort, 100, 20).await, want, "{sort}");
            // Common (over the cap, walked): the first pages.
            let want = expected("refund", sort);
            assert_eq!(want.len(), 2_195);
            assert_eq!(pages(&app, "refund", sort, 100, 3).await, want[..300], "{sort}");
            assert!(pages(&app, "no-such-words", sort, 100, 3).await.is_empty());
        }
    }
}

backend_test! {
    async fn a_retitled_case_is_found_by_its_new_words_and_not_its_old_ones() {
        let app = spawn_app().await;
        let a = app.create(json!({"title": "Printer jam on floor 3"})).await;
        app.create(json!({"title": "Refund for order 42"})).await;
        assert_eq!(titles(&app, "printer jam").await, ["Printer jam on floor 3"]);
        let patch = docket_api::CasePatch { title: Some("Toner smudges on floor 3".into()), ..Default::default() };
        app.client.update_case(&a.case_id, &patch, None).await.unwrap();
        assert_eq!(titles(&app, "TONER smudge").await, ["Toner smudges on floor 3"]);
        assert!(titles(&app, "printer").await.is_empty());
        assert_eq!(titles(&app, "floor 3").await, ["Toner smudges on floor 3"]);
        // A change of another field leaves the title where it was.
        let patch = docket_api::CasePatch { status: Some("Pending".into()), ..Default::default() };
        app.client.update_case(&a.case_id, &patch, None).await.unwrap();
        assert_eq!(titles(&app, "toner").await, ["Toner smudges on floor 3"]);
    }
}

backend_test! {
    async fn short_searches_are_refused_and_like_metacharacters_match_themselves() {
        let app = spawn_app().await;
        for title in [
            "Printer jam",
            "50% off coupon misapplied",
            "500 off coupon misapplied",
            "snake_case field name",
            "snakeXcase field name",
            "customer said \"hi there\" twice",
            "customer said hi there twice",
        ] {
            app.create(json!({"title": title})).await;
        }
        // One and two characters: shorter than a trigram, they could only be found by
        // reading every case, so they are refused.
        for short in ["J", "jA", "%", "e_", "é"] {
            let (s, h, b) = app
                .raw("GET", &format!("/api/v1/cases?q={}", encode(short)), None)
                .await;
            assert_problem(s, &h, &b, 400, "invalid_query");
            assert_eq!(b["errors"][0]["field"], "q", "{short}: {b}");
        }
        assert_eq!(titles(&app, "jam").await, ["Printer jam"]);
        assert_eq!(titles(&app, "0% ").await, ["50% off coupon misapplied"]);
        assert_eq!(titles(&app, "e_c").await, ["snake_case field name"]);
        // Three and more, through the index: still literal.
        assert_eq!(titles(&app, "50% off").await, ["50% off coupon misapplied"]);
        assert_eq!(titles(&app, "E_CASE").await, ["snake_case field name"]);
        assert_eq!(titles(&app, "\"hi there\"").await, ["customer said \"hi there\" twice"]);
        assert_eq!(titles(&app, "\"hi").await, ["customer said \"hi there\" twice"]);
        assert_eq!(titles(&app, "said hi").await, ["customer said hi there twice"]);
    }
}
