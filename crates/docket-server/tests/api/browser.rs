//! The console in a real headless Chromium (Debian's `chromium` and `chromium-driver`),
//! driven over WebDriver against the real server: sign in, filter, select across pages,
//! bulk-change with live progress, outcomes with a failure, retry failed, a fresh list;
//! a change of every case a filter matches, split into jobs. The other pages are in
//! `browser_pages.rs`; the helpers here serve both. Screenshots of the list, the progress
//! and the outcomes are taken on the way; with `UPDATE_SCREENSHOTS=1` they replace the
//! docs' (docs/screenshots/).

use serde_json::json;

use crate::auth::{call, make_key};
use crate::helpers::*;
use crate::webdriver::{Browser, available};

pub async fn sign_in(b: &Browser, app: &TestApp, token: &str, page: &str) {
    // An unauthenticated visit lands on the sign-in form, which comes back to the page.
    b.goto(&format!("{}{page}", app.base)).await;
    let key = b.find("#key").await;
    assert!(b.url().await.contains("/console/sign-in?next="));
    audit_accessibility(b, "the sign-in page").await;
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

pub fn save_screenshot(name: &str, png: &[u8]) {
    assert!(png.starts_with(b"\x89PNG"), "{name} is a PNG");
    let dir = if std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots")
    } else {
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots")
    };
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), png).unwrap();
}

/// Checks what the page shows now against WCAG AA: every visible control has an
/// accessible name (a `<label for>`, `aria-label`, `aria-labelledby`, or a button's text),
/// and every visible text has a contrast of at least 4.5:1 against its background (3:1
/// for large text), computed from the browser's own computed colours.
pub async fn audit_accessibility(b: &Browser, page: &str) {
    let found = b
        .js(
            r#"
const lum = c => {
  const [r, g, b] = c.map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
};
const rgba = s => (s.match(/[\d.]+/g) || []).map(Number);
const background = el => {
  for (let e = el; e; e = e.parentElement) {
    const c = rgba(getComputedStyle(e).backgroundColor);
    if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3);
  }
  return [255, 255, 255];
};
const visible = el => { const r = el.getBoundingClientRect(); return r.width > 1 && r.height > 1 && getComputedStyle(el).visibility !== 'hidden'; };
const problems = [];
for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea, button')) {
  if (!visible(el)) continue;
  const named = el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')
    || (el.id && document.querySelector(`label[for="${el.id}"]`)) || (el.tagName === 'BUTTON' && el.textContent.trim());
  if (!named) problems.push(`unlabelled ${el.tagName.toLowerCase()}#${el.id}`);
}
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
while (walker.nextNode()) {
  const t = walker.currentNode;
  const el = t.parentElement;
  if (!t.textContent.trim() || !el || !visible(el) || el.closest('.visually-hidden, [hidden]')) continue;
  const st = getComputedStyle(el);
  if (el.closest('button:disabled')) continue; // WCAG exempts inactive controls
  const fg = rgba(st.color).slice(0, 3), bg = background(el);
  const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
  const ratio = (hi + 0.05) / (lo + 0.05);
  const large = parseFloat(st.fontSize) >= 24 || (parseFloat(st.fontSize) >= 18.66 && Number(st.fontWeight) >= 700);
  if (ratio < (large ? 3 : 4.5)) problems.push(`${ratio.toFixed(2)}:1 for "${t.textContent.trim().slice(0, 30)}" (${st.color} on rgb(${bg}))`);
}
return problems;
"#,
            json!([]),
        )
        .await;
    assert_eq!(found, json!([]), "accessibility problems on {page}");
}

/// How many times the case list has loaded (the page counts it on the table).
pub async fn list_loads(b: &Browser) -> i64 {
    b.js(
        "return Number(document.querySelector('#case-table').dataset.loads || 0)",
        json!([]),
    )
    .await
    .as_i64()
    .unwrap()
}

pub async fn wait_list_reload(b: &Browser, after: i64) {
    b.until(
        "the case list to reload",
        30,
        "return Number(document.querySelector('#case-table').dataset.loads || 0) > arguments[0]",
        json!([after]),
    )
    .await;
}

/// Waits until the case table's first row is `id` (a page, an order has loaded).
pub async fn first_row_is(b: &Browser, what: &str, id: &str) {
    b.until(
        what,
        15,
        "const r = document.querySelector('#case-table tbody tr'); return r && r.dataset.caseId === arguments[0]",
        json!([id]),
    )
    .await;
}

/// The status shown in each row of the case table, in order.
pub async fn shown_statuses(b: &Browser) -> Vec<String> {
    let v = b
        .js(
            "return [...document.querySelectorAll('#case-table tbody td.status')].map(td => td.textContent)",
            json!([]),
        )
        .await;
    serde_json::from_value(v).unwrap()
}

pub async fn wait_job_text(b: &Browser, contains: &str) -> String {
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
    audit_accessibility(&b, "the case list").await;

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
    audit_accessibility(&b, "the outcomes").await;

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
async fn console_bulk_change_of_every_case_matching_the_filter_is_one_previewed_job_and_reverts() {
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
    // 65 matches, at most 50 a request: a job by filter is not bound by it.
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
    b.click_on("#bulk-preview").await;
    let preview = b
        .until(
            "the preview",
            30,
            "const t = document.querySelector('#bulk-preview-text'); return t && t.textContent",
            json!([]),
        )
        .await;
    assert!(
        preview
            .as_str()
            .unwrap()
            .starts_with("65 cases: 65 would change, 0 would fail"),
        "{preview}"
    );
    b.click_on("#bulk-review").await;
    assert_eq!(
        b.text_of("#bulk-confirm-count").await,
        "65",
        "every match, not one page"
    );
    assert!(b.all("#bulk-confirm-jobs").await.is_empty(), "one job");
    b.click_on("#bulk-confirm-apply").await;
    wait_job_text(&b, "Completed: 65 succeeded, 0 failed").await;
    let priorities = |want_dana: &'static str| {
        let app = &app;
        let token = token.clone();
        async move {
            let (_, _, page) =
                call(app, "GET", "/api/v1/cases?limit=200", Some(&token), None).await;
            for c in page["items"].as_array().unwrap() {
                let want = if c["assignee"] == json!("dana") {
                    want_dana
                } else {
                    "Medium"
                };
                assert_eq!(c["priority"], json!(want), "{c}");
            }
        }
    };
    priorities("Critical").await;
    // The job's page reverts it, after a confirmation.
    let job = b.text_of("#job-heading a").await;
    b.goto(&format!("{}/console/jobs/{job}", app.base)).await;
    b.click_on("#job-revert").await;
    b.find("#revert-confirm").await;
    b.click_on("#revert-confirm-apply").await;
    b.until(
        "the revert's page",
        15,
        "const r = document.querySelector('#job-reverts'); return r && r.textContent === arguments[0]",
        json!([job]),
    )
    .await;
    wait_job_text(&b, "Completed: 65 succeeded, 0 failed").await;
    priorities("Medium").await;
    b.quit().await;
}
