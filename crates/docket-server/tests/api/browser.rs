//! The console in a real headless Chromium (Debian's `chromium` and `chromium-driver`),
//! driven over WebDriver against the real server: sign in, filter, select across pages,
//! bulk-change with live progress, outcomes with a failure, retry failed, a fresh list;
//! an edit that meets a concurrent change; a read-only key. Screenshots of the list, the
//! progress and the outcomes are taken on the way; with `UPDATE_SCREENSHOTS=1` they
//! replace the README's (docs/screenshots/).

use serde_json::{Value, json};

use crate::auth::{call, make_key};
use crate::helpers::*;
use crate::webdriver::{Browser, available};

async fn sign_in(b: &Browser, app: &TestApp, token: &str, page: &str) {
    // An unauthenticated visit lands on the sign-in form, which comes back to the page.
    b.goto(&format!("{}{page}", app.base)).await;
    let key = b.find("#key").await;
    assert!(b.url().await.contains("/console/sign-in?next="));
    b.type_into(&key, token).await;
    b.click_on("#sign-in").await;
    b.until(
        "the signed-in page",
        15,
        "return document.querySelector('#who-name') && location.pathname",
        json!([]),
    )
    .await;
}

fn save_screenshot(name: &str, png: &[u8]) {
    assert!(png.starts_with(b"\x89PNG"), "{name} is a PNG");
    let dir = if std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots")
    } else {
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots")
    };
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), png).unwrap();
}

/// How many times the case list has loaded (the page counts it on the table).
async fn list_loads(b: &Browser) -> i64 {
    b.js(
        "return Number(document.querySelector('#case-table').dataset.loads || 0)",
        json!([]),
    )
    .await
    .as_i64()
    .unwrap()
}

async fn wait_list_reload(b: &Browser, after: i64) {
    b.until(
        "the case list to reload",
        30,
        "return Number(document.querySelector('#case-table').dataset.loads || 0) > arguments[0]",
        json!([after]),
    )
    .await;
}

/// Waits until the case table's first row is `id` (a page, an order has loaded).
async fn first_row_is(b: &Browser, what: &str, id: &str) {
    b.until(
        what,
        15,
        "const r = document.querySelector('#case-table tbody tr'); return r && r.dataset.caseId === arguments[0]",
        json!([id]),
    )
    .await;
}

/// The status shown in each row of the case table, in order.
async fn shown_statuses(b: &Browser) -> Vec<String> {
    let v = b
        .js(
            "return [...document.querySelectorAll('#case-table tbody td.status')].map(td => td.textContent)",
            json!([]),
        )
        .await;
    serde_json::from_value(v).unwrap()
}

async fn wait_job_text(b: &Browser, contains: &str) -> String {
    b.until(
        &format!("the job to say {contains:?}"),
        60,
        "const t = document.querySelector('#job-progress-text'); return t && t.textContent.includes(arguments[0]) && t.textContent",
        json!([contains]),
    )
    .await
    .as_str()
    .unwrap()
    .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_bulk_sets_status_on_250_cases_picked_across_pages_then_retries_the_failed_one() {
    if !available("console bulk flow") {
        return;
    }
    let app = spawn_app().await;
    // 300 tagged cases In Progress, one of them New (New -> Under Review is not a move
    // the workflow allows, so that item fails), and 20 untagged ones the filter drops.
    let mut tagged = Vec::new();
    for i in 0..300 {
        let status = if i == 6 { "New" } else { "In Progress" };
        let c = app
            .create(json!({"title": format!("Claim {i:03}"), "status": status, "tags": ["batch"]}))
            .await;
        tagged.push(c.case_id);
    }
    for i in 0..20 {
        app.create(json!({"title": format!("Other {i}"), "status": "In Progress"}))
            .await;
    }
    let failing = tagged[6].clone();
    let (_, token) = make_key(&app, "lead", &["admin"]).await;

    let b = Browser::start().await;
    sign_in(&b, &app, &token, "/console/cases").await;

    // Filter: the tag, oldest first, 100 a page.
    let tag = b.find("#f-tag").await;
    b.type_into(&tag, "batch").await;
    b.choose("#f-limit", "100").await;
    b.click_on("#apply-filter").await;
    b.until(
        "the filtered list",
        15,
        "return document.querySelectorAll('#case-table tbody tr').length === 100",
        json!([]),
    )
    .await;
    // Newest first by default; one click on "Created" turns it to oldest first.
    first_row_is(&b, "newest first", &tagged[299]).await;
    b.click_on("#sort-createdAt").await; // createdAt: oldest first
    first_row_is(&b, "oldest first", &tagged[0]).await;
    let rows = b.all("#case-table tbody tr").await.len();
    assert_eq!(rows, 100, "no untagged case on the page");

    // Select 250 across pages: two whole pages, then 50 rows of the third one by one.
    b.click_on("#select-page").await;
    b.click_on("#next-page").await;
    first_row_is(&b, "page 2", &tagged[100]).await;
    b.click_on("#select-page").await;
    b.click_on("#next-page").await;
    first_row_is(&b, "page 3", &tagged[200]).await;
    // The first from the keyboard: Space ticks it and the focus stays on it.
    b.js(
        "document.getElementById('select-' + arguments[0]).focus()",
        json!([tagged[200]]),
    )
    .await;
    b.keys(" ").await;
    let focus = b
        .js(
            "const a = document.activeElement; return [a.id, a.checked]",
            json!([]),
        )
        .await;
    assert_eq!(focus, json!([format!("select-{}", tagged[200]), true]));
    for id in &tagged[201..250] {
        b.click_on(&format!("#case-table input[data-case-id='{id}']"))
            .await;
    }
    assert_eq!(b.text_of("#selection-count").await, "250 cases selected");
    b.js("window.scrollTo(0, 0)", json!([])).await;
    save_screenshot("cases-list.png", &b.screenshot().await);

    // Bulk change, the confirmation driven from the keyboard.
    b.choose("#bulk-value", "Under Review").await;
    b.click_on("#bulk-review").await;
    assert_eq!(b.text_of("#bulk-confirm-count").await, "250");
    let loads = list_loads(&b).await;
    b.keys("\u{E007}").await; // Enter on the focused "Apply to 250 cases"
    let done = wait_job_text(&b, "Completed").await;
    assert!(done.contains("250 of 250 processed (100%)"), "{done}");
    assert!(done.contains("249 succeeded, 1 failed"), "{done}");
    let bar = b.find("#job-progress").await;
    assert_eq!(b.property(&bar, "value").await, json!(100));
    b.js(
        "document.querySelector('#bulk-job').scrollIntoView()",
        json!([]),
    )
    .await;
    save_screenshot("bulk-progress.png", &b.screenshot().await);

    // Outcomes: the failed case, with its reason.
    let failed = b
        .until(
            "the failed outcome",
            15,
            "return [...document.querySelectorAll('#outcome-table tbody tr[data-outcome=failed]')].map(r => r.textContent)",
            json!([]),
        )
        .await;
    let failed: Vec<String> = serde_json::from_value(failed).unwrap();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0].contains(&failing) && failed[0].contains("invalid_transition"),
        "{failed:?}"
    );
    b.js(
        "document.querySelector('#job-outcomes').scrollIntoView()",
        json!([]),
    )
    .await;
    save_screenshot("bulk-outcomes.png", &b.screenshot().await);

    // The list reloaded when the job completed, and shows the new statuses at once.
    wait_list_reload(&b, loads).await;
    let shown = shown_statuses(&b).await;
    assert_eq!(shown.len(), 100);
    assert!(shown[..50].iter().all(|s| s == "Under Review"), "{shown:?}");
    assert!(shown[50..].iter().all(|s| s == "In Progress"), "{shown:?}");

    // Make the failed case movable, then retry the failed item.
    let (s, _, _) = call(
        &app,
        "PATCH",
        &format!("/api/v1/cases/{failing}"),
        Some(&token),
        Some(r#"{"status":"In Progress"}"#),
    )
    .await;
    assert_eq!(s, 200);
    let loads = list_loads(&b).await;
    b.click_on("#retry-failed").await;
    let done = wait_job_text(&b, "Completed: 1 succeeded, 0 failed").await;
    assert!(done.contains("1 of 1 processed"), "{done}");
    wait_list_reload(&b, loads).await;
    b.click_on("#prev-page").await;
    first_row_is(&b, "page 2 again", &tagged[100]).await;
    b.click_on("#prev-page").await;
    first_row_is(&b, "page 1", &tagged[0]).await;
    let shown = shown_statuses(&b).await;
    assert!(shown.iter().all(|s| s == "Under Review"), "{shown:?}");
    let (_, _, case) = call(
        &app,
        "GET",
        &format!("/api/v1/cases/{failing}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(case["status"], json!("Under Review"));
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_edit_that_meets_a_concurrent_change_shows_the_conflict_and_keeps_both() {
    if !available("console conflict") {
        return;
    }
    let app = spawn_app().await;
    let case = app
        .create(json!({"title": "Broken boiler", "status": "Open"}))
        .await;
    let id = case.case_id.clone();
    let (_, token) = make_key(&app, "lead", &["admin"]).await;
    let b = Browser::start().await;
    sign_in(&b, &app, &token, &format!("/console/cases/{id}")).await;

    let title = b.find("#edit-title").await;
    b.clear(&title).await;
    b.type_into(&title, "Broken boiler, flat 3").await;
    // Meanwhile someone else raises the priority.
    let (s, _, _) = call(
        &app,
        "PATCH",
        &format!("/api/v1/cases/{id}"),
        Some(&token),
        Some(r#"{"priority":"High"}"#),
    )
    .await;
    assert_eq!(s, 200);
    b.click_on("#save-case").await;
    let conflict = b.text_of("#conflict").await;
    assert!(conflict.contains("version 1 → 2"), "{conflict}");
    assert!(
        conflict.contains("High") && conflict.contains("Broken boiler, flat 3"),
        "{conflict}"
    );
    let (_, _, now) = call(
        &app,
        "GET",
        &format!("/api/v1/cases/{id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(
        now["title"],
        json!("Broken boiler"),
        "nothing saved on conflict"
    );

    b.click_on("#conflict-apply-mine").await;
    b.until(
        "the saved case",
        15,
        "return document.querySelector('[data-fact=Version]').textContent === '3'",
        json!([]),
    )
    .await;
    let (_, _, now) = call(
        &app,
        "GET",
        &format!("/api/v1/cases/{id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(now["title"], json!("Broken boiler, flat 3"));
    assert_eq!(now["priority"], json!("High"), "their change kept");
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_read_only_key_sees_no_write_controls_and_its_forged_write_is_refused() {
    if !available("console read-only") {
        return;
    }
    let app = spawn_app().await;
    let case = app
        .create(json!({"title": "Look only", "status": "Open"}))
        .await;
    let id = case.case_id.clone();
    let (_, admin) = make_key(&app, "lead", &["admin"]).await;
    let (_, reader) = make_key(&app, "auditor", &["cases:read", "jobs:read"]).await;
    let b = Browser::start().await;
    sign_in(&b, &app, &reader, "/console/cases").await;
    b.find("#case-table tbody tr").await;
    for write in [
        "#bulk-review",
        "#bulk-field",
        "#select-page",
        "#case-table tbody input",
    ] {
        assert!(
            b.all(write).await.is_empty(),
            "{write} is shown to a read-only key"
        );
    }
    b.goto(&format!("{}/console/cases/{id}", app.base)).await;
    b.find("#case-facts").await;
    b.find("#history-table").await;
    assert!(b.all("#edit-form").await.is_empty());
    assert!(b.all("[data-nav=settings]:not([hidden])").await.is_empty());

    // A write forged from the page itself, CSRF token and all, is refused by scope.
    let res = b
        .js_async(
            "const done = arguments[arguments.length - 1];
             const csrf = (document.cookie.match(/docket_csrf=([^;]+)/) || [])[1] || '';
             fetch(arguments[0], {method: 'PATCH', headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf},
                                  body: JSON.stringify({status: 'Closed'})})
               .then(async r => done({status: r.status, body: await r.json()}));",
            json!([format!("/api/v1/cases/{id}")]),
        )
        .await;
    assert_eq!(res["status"], json!(403), "{res}");
    assert_eq!(res["body"]["code"], json!("forbidden"), "{res}");
    // The session cookie is out of the page's reach.
    let cookie: Value = b.js("return document.cookie", json!([])).await;
    assert!(
        !cookie.as_str().unwrap().contains("docket_session"),
        "{cookie}"
    );
    let (_, _, now) = call(
        &app,
        "GET",
        &format!("/api/v1/cases/{id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(now["status"], json!("Open"));
    assert_eq!(now["version"], json!(1));
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_jobs_page_shows_a_jobs_outcomes_and_the_settings_page_validates_and_saves() {
    if !available("console jobs and settings") {
        return;
    }
    let app = spawn_app().await;
    let a = app.create(json!({"title": "a", "status": "Open"})).await;
    let (_, token) = make_key(&app, "lead", &["admin"]).await;
    let body = json!([{"caseId": a.case_id, "status": "Pending"}, {"caseId": "CASE-404404", "status": "Pending"}]);
    let (s, _, job) = call(
        &app,
        "POST",
        "/api/v1/cases/bulk-update",
        Some(&token),
        Some(&body.to_string()),
    )
    .await;
    assert_eq!(s, 200, "{job}");
    let job_id = job["jobId"].as_str().unwrap().to_owned();

    let b = Browser::start().await;
    sign_in(&b, &app, &token, "/console/jobs").await;
    b.click_on(&format!("#job-table a[href='/console/jobs/{job_id}']"))
        .await;
    let done = wait_job_text(&b, "Completed").await;
    assert!(done.contains("1 succeeded, 1 failed"), "{done}");
    let failed = b
        .text_of("#outcome-table tbody tr[data-outcome=failed]")
        .await;
    assert!(
        failed.contains("CASE-404404") && failed.contains("case_not_found"),
        "{failed}"
    );

    b.goto(&format!("{}/console/settings", app.base)).await;
    let chunk = b.find("#set-Jobs-ChunkSize").await;
    b.clear(&chunk).await;
    b.type_into(&chunk, "0").await;
    b.click_on("#save-settings").await;
    let alert = b.text_of("#settings-form [role=alert]").await;
    assert!(alert.contains("Jobs.ChunkSize"), "{alert}");
    b.clear(&chunk).await;
    b.type_into(&chunk, "250").await;
    b.choose(
        "#set-CaseManagement-BulkUpdateCacheInvalidation",
        "deferred",
    )
    .await;
    b.click_on("#save-settings").await;
    b.until(
        "saved",
        15,
        "const n = document.querySelector('#settings-form .notice'); return n && n.textContent",
        json!([]),
    )
    .await;
    let (_, _, settings) = call(&app, "GET", "/api/v1/settings", Some(&token), None).await;
    assert_eq!(settings["Jobs.ChunkSize"], json!(250), "{settings}");
    assert_eq!(
        settings["CaseManagement.BulkUpdateCacheInvalidation"],
        json!("deferred")
    );
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_bulk_change_of_every_case_matching_the_filter_spans_pages_and_jobs() {
    if !available("console bulk by filter") {
        return;
    }
    let app = spawn_app().await;
    for i in 0..130 {
        let assignee = if i % 2 == 0 { "dana" } else { "eli" };
        app.create(
            json!({"title": format!("Water leak {i}"), "status": "Open", "assignee": assignee}),
        )
        .await;
    }
    let (_, token) = make_key(&app, "lead", &["cases:read", "cases:write", "jobs:read"]).await;
    // 65 matches, at most 50 a request: the console runs two jobs.
    let (_, admin) = make_key(&app, "ops", &["admin"]).await;
    let (s, _, _) = call(
        &app,
        "PATCH",
        "/api/v1/settings",
        Some(&admin),
        Some(r#"{"Jobs.MaxItemsPerRequest":50}"#),
    )
    .await;
    assert_eq!(s, 200);
    let b = Browser::start().await;
    sign_in(
        &b,
        &app,
        &token,
        "/console/cases?assignee=dana&q=LEAK&limit=25",
    )
    .await;
    b.until(
        "the filtered list",
        15,
        "return document.querySelectorAll('#case-table tbody tr').length === 25",
        json!([]),
    )
    .await;
    b.click_on("#bulk-target-filter").await;
    b.choose("#bulk-field", "Priority").await;
    b.choose("#bulk-value", "Critical").await;
    b.click_on("#bulk-review").await;
    assert_eq!(
        b.text_of("#bulk-confirm-count").await,
        "65",
        "every match, not one page"
    );
    assert!(b.text_of("#bulk-confirm-jobs").await.contains("2 jobs"));
    b.click_on("#bulk-confirm-apply").await;
    let done = b
        .until(
            "both jobs",
            60,
            "const t = document.querySelector('#batch-text'); return t && t.textContent.includes('jobs ended') && t.textContent",
            json!([]),
        )
        .await;
    assert!(
        done.as_str()
            .unwrap()
            .contains("2 of 2 jobs ended: 65 succeeded, 0 failed"),
        "{done}"
    );
    assert_eq!(b.all("#batch-table tbody tr").await.len(), 2);
    let (_, _, page) = call(&app, "GET", "/api/v1/cases?limit=200", Some(&token), None).await;
    for c in page["items"].as_array().unwrap() {
        let want = if c["assignee"] == json!("dana") {
            "Critical"
        } else {
            "Medium"
        };
        assert_eq!(c["priority"], json!(want), "{c}");
    }
    b.quit().await;
}
