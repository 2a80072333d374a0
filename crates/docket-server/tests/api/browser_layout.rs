//! The console's layout and structure in a real headless Chromium (see `browser.rs` for
//! the harness): every page fits a phone-wide window, the bulk confirmation warns about
//! the moves the workflow forbids, the toast never covers the outcomes, every table
//! header has a name, and the API reference's headings never skip a level.

use serde_json::json;

use crate::auth::{call, make_key};
use crate::browser::{sign_in, wait_job_text};
use crate::helpers::*;
use crate::webdriver::{Browser, available};

/// The elements sticking out to the right of the document, when it scrolls sideways.
const SIDEWAYS: &str = r#"
const root = document.documentElement;
if (root.scrollWidth <= root.clientWidth) return [];
const out = [];
for (const el of document.querySelectorAll('body *')) {
  const r = el.getBoundingClientRect();
  if (r.right > root.clientWidth + 0.5 && !el.closest('.table-scroll > *')) {
    out.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}${el.className ? '.' + String(el.className).replace(/ /g, '.') : ''} right=${Math.round(r.right)}`);
  }
}
return [`scrollWidth ${root.scrollWidth} > clientWidth ${root.clientWidth}`, ...out.slice(0, 12)];
"#;

async fn assert_fits(b: &Browser, page: &str) {
    let found = b.js(SIDEWAYS, json!([])).await;
    assert_eq!(found, json!([]), "{page} scrolls sideways at 390 px");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_pages_fit_a_390_pixel_wide_window_without_sideways_scrolling() {
    if !available("console at 390 px") {
        return;
    }
    let app = spawn_app().await;
    let case = app
        .create(json!({
            "title": "A rather long case title that goes on and on about a leaking boiler in flat 3",
            "status": "Open", "assignee": "dana.longname@example.org",
            "tags": ["plumbing", "urgent", "building-7"]
        }))
        .await;
    for i in 0..5 {
        app.create(json!({"title": format!("Case {i}"), "status": "Open"}))
            .await;
    }
    // A finished job with a failed item, made while the server is still open.
    let body = json!([{"caseId": case.case_id, "status": "Pending"}, {"caseId": "CASE-404404", "status": "Pending"}]);
    let (s, _, job) = app
        .send_json("POST", "/api/v1/cases/bulk-update", &body)
        .await;
    assert_eq!(s, 200, "{job}");
    let job_id = job["jobId"].as_str().unwrap().to_owned();
    app.wait_job(&job_id).await;
    let (_, token) = make_key(&app, "a-team-lead-with-a-long-name", &["admin"]).await;

    let b = Browser::start().await;
    b.resize(390, 844).await;
    assert_eq!(
        b.js("return window.innerWidth", json!([])).await,
        json!(390)
    );
    b.goto(&format!("{}/console/sign-in", app.base)).await;
    b.find("#key").await;
    assert_fits(&b, "the sign-in page").await;
    sign_in(&b, &app, &token, "/console/cases").await;
    b.find("#case-table tbody tr").await;
    assert_fits(&b, "the case list").await;
    // The bulk confirmation is a modal dialog: it fits too.
    b.click_on("#select-page").await;
    b.choose("#bulk-value", "Pending").await;
    b.click_on("#bulk-review").await;
    b.find("#bulk-confirm").await;
    assert_fits(&b, "the bulk confirmation").await;
    let dialog = b
        .js(
            "const r = document.querySelector('#bulk-confirm').getBoundingClientRect(); return r.left >= 0 && r.right <= document.documentElement.clientWidth",
            json!([]),
        )
        .await;
    assert_eq!(
        dialog,
        json!(true),
        "the confirmation dialog fits the window"
    );
    b.click_on("#bulk-confirm-cancel").await;

    b.goto(&format!("{}/console/cases/{}", app.base, case.case_id))
        .await;
    b.find("#history-table tbody tr").await;
    assert_fits(&b, "a case").await;
    b.goto(&format!("{}/console/jobs", app.base)).await;
    b.find("#job-table tbody tr").await;
    assert_fits(&b, "the jobs").await;
    b.goto(&format!("{}/console/jobs/{job_id}", app.base)).await;
    b.find("#outcome-table tbody tr").await;
    assert_fits(&b, "a job").await;
    b.goto(&format!("{}/console/settings", app.base)).await;
    b.find("#settings-form").await;
    assert_fits(&b, "the settings").await;
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_confirmation_counts_the_moves_the_workflow_forbids_and_the_toast_leaves_the_outcomes_uncovered()
 {
    if !available("console forbidden moves") {
        return;
    }
    let app = spawn_app().await;
    // 40 cases: New may not move to Under Review (the default workflow), In Progress may.
    for i in 0..40 {
        let status = if i % 3 == 0 { "New" } else { "In Progress" };
        app.create(json!({"title": format!("Claim {i:02}"), "status": status}))
            .await;
    }
    let forbidden = (0..40).filter(|i| i % 3 == 0).count();
    let (_, token) = make_key(&app, "lead", &["admin"]).await;
    let b = Browser::start().await;
    sign_in(&b, &app, &token, "/console/cases?limit=50").await;
    b.until(
        "the list",
        15,
        "return document.querySelectorAll('#case-table tbody tr').length === 40",
        json!([]),
    )
    .await;
    b.click_on("#select-page").await;

    // A move every selected case may make: no warning.
    b.choose("#bulk-value", "Cancelled").await;
    b.click_on("#bulk-review").await;
    b.find("#bulk-confirm").await;
    assert!(b.all("#bulk-confirm-forbidden").await.is_empty());
    b.click_on("#bulk-confirm-cancel").await;

    b.choose("#bulk-value", "Under Review").await;
    b.click_on("#bulk-review").await;
    let warning = b.text_of("#bulk-confirm-forbidden").await;
    assert!(
        warning.contains(&format!("{forbidden} of the 40")) && warning.contains("Under Review"),
        "{warning}"
    );
    b.click_on("#bulk-confirm-apply").await;
    let done = wait_job_text(&b, "Completed").await;
    assert!(
        done.contains(&format!("{} succeeded, {forbidden} failed", 40 - forbidden)),
        "{done}"
    );
    b.until(
        "the failed outcomes",
        15,
        "return document.querySelectorAll('#outcome-table tbody tr[data-outcome=failed]').length === arguments[0]",
        json!([forbidden]),
    )
    .await;
    // While the toast shows, at no scroll position does it lie over the outcomes.
    let overlaps = b
        .js(
            r#"
const toast = document.getElementById('toast');
if (!toast.classList.contains('show')) return 'the toast is not shown';
const table = document.getElementById('outcome-table');
const hit = [];
const cross = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
const max = document.documentElement.scrollHeight - innerHeight;
for (let y = 0; y <= max + 50; y += 50) {
  window.scrollTo(0, y);
  if (cross(toast.getBoundingClientRect(), table.getBoundingClientRect())) hit.push(scrollY);
}
return hit;
"#,
            json!([]),
        )
        .await;
    assert_eq!(
        overlaps,
        json!([]),
        "scroll positions where the toast covers the outcomes"
    );
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_table_header_of_the_jobs_and_case_lists_has_text() {
    if !available("console table headers") {
        return;
    }
    let app = spawn_app().await;
    app.create(json!({"title": "a", "status": "Open"})).await;
    let (_, token) = make_key(&app, "lead", &["admin"]).await;
    let (s, _, _) = call(
        &app,
        "POST",
        "/api/v1/cases/bulk-update",
        Some(&token),
        Some(r#"[{"caseId": "CASE-000001", "status": "Pending"}]"#),
    )
    .await;
    assert_eq!(s, 200);
    let b = Browser::start().await;
    let empty = "return [...document.querySelectorAll('th')].filter(th => !th.textContent.trim()).map(th => th.outerHTML)";
    sign_in(&b, &app, &token, "/console/jobs").await;
    b.find("#job-table tbody tr").await;
    assert_eq!(b.js(empty, json!([])).await, json!([]), "the jobs list");
    b.goto(&format!("{}/console/cases", app.base)).await;
    b.find("#case-table tbody tr").await;
    assert_eq!(b.js(empty, json!([])).await, json!([]), "the case list");
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_reference_headings_never_skip_a_level() {
    if !available("docs headings") {
        return;
    }
    let app = spawn_app().await;
    let b = Browser::start().await;
    b.goto(&format!("{}/docs", app.base)).await;
    b.find("section.op").await;
    let skips = b
        .js(
            r#"
const levels = [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')].map(h => [Number(h.tagName[1]), h.textContent.trim().slice(0, 40)]);
const out = [];
if (!levels.length || levels[0][0] !== 1) out.push(`first heading ${JSON.stringify(levels[0])}`);
for (let i = 1; i < levels.length; i++) {
  if (levels[i][0] > levels[i - 1][0] + 1) out.push(`h${levels[i - 1][0]} "${levels[i - 1][1]}" -> h${levels[i][0]} "${levels[i][1]}"`);
}
return out.slice(0, 10);
"#,
            json!([]),
        )
        .await;
    assert_eq!(skips, json!([]), "/docs skips heading levels");
    b.quit().await;
}
