//! The change feed page and case deletion in a real headless Chromium (see `browser.rs`
//! for the harness): changes made through the API appear live, newest first, as text
//! (markup in a title stays text), with links to their case and job; the type filter and
//! the start from the oldest change kept; a case deleted from its page through the
//! confirmation, and a delete that meets a concurrent change shown as a conflict.

use serde_json::{Value, json};

use crate::auth::{call, make_key};
use crate::browser::{audit_accessibility, sign_in};
use crate::helpers::*;
use crate::webdriver::{Browser, available};

/// Waits until the feed says it is live (the stream is open at a known position).
async fn wait_live(b: &Browser) {
    b.until(
        "the feed to be live",
        15,
        "const s = document.querySelector('#changes-state'); return s && s.dataset.state === 'live'",
        json!([]),
    )
    .await;
}

/// The cells' text of the first row of the change table matching `css`, once there is one.
async fn row_cells(b: &Browser, what: &str, css: &str) -> Vec<String> {
    let v = b
        .until(
            what,
            15,
            "const r = document.querySelector('#change-table tbody ' + arguments[0]); return r && [...r.cells].map(c => c.textContent)",
            json!([css]),
        )
        .await;
    serde_json::from_value(v).unwrap()
}

/// The type of every row of the change table, top to bottom.
async fn shown_types(b: &Browser) -> Vec<String> {
    let v = b
        .js(
            "return [...document.querySelectorAll('#change-table tbody tr[data-type]')].map(r => r.dataset.type)",
            json!([]),
        )
        .await;
    serde_json::from_value(v).unwrap()
}

async fn status_of(app: &TestApp, token: &str, id: &str) -> (u16, Value) {
    let (s, _, body) = call(
        app,
        "GET",
        &format!("/api/v1/cases/{id}"),
        Some(token),
        None,
    )
    .await;
    (s, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_changes_page_shows_each_change_live_newest_first_and_as_text() {
    if !available("console changes") {
        return;
    }
    let app = spawn_app().await;
    let case = app
        .create(json!({"title": "Broken boiler", "status": "Open"}))
        .await;
    let id = case.case_id.clone();
    let (_, token) = make_key(&app, "lead", &["cases:read", "cases:write", "jobs:read"]).await;
    let b = Browser::start().await;
    sign_in(&b, &app, &token, "/console/changes").await;
    wait_live(&b).await;
    assert_eq!(
        b.all("[data-nav=changes]:not([hidden])").await.len(),
        1,
        "the page is in the navigation"
    );
    // It starts at the present: the creation, made before the page opened, is not shown.
    assert!(shown_types(&b).await.is_empty());

    // A PATCH through the API: its row, with the case's link, version, actor and change.
    let (s, _, _) = call(
        &app,
        "PATCH",
        &format!("/api/v1/cases/{id}"),
        Some(&token),
        Some(r#"{"priority":"High"}"#),
    )
    .await;
    assert_eq!(s, 200);
    let cells = row_cells(
        &b,
        "the update",
        &format!("tr[data-type='case.updated'][data-case-id='{id}']"),
    )
    .await;
    assert_eq!(cells[1], "case.updated", "{cells:?}");
    assert_eq!(cells[2], id, "{cells:?}");
    assert_eq!(cells[3], "2", "{cells:?}");
    assert_eq!(cells[4], "lead", "{cells:?}");
    assert_eq!(cells[6], "priority: Medium → High", "{cells:?}");
    b.find(&format!(
        "#change-table tbody tr[data-case-id='{id}'] a[href='/console/cases/{id}']"
    ))
    .await;

    // A title holding markup and script shows as text, on top (newest first).
    let evil = r#"<img src=x onerror="pwned=1"><script>pwned=2</script>"#;
    let (s, _, _) = call(
        &app,
        "PATCH",
        &format!("/api/v1/cases/{id}"),
        Some(&token),
        Some(&json!({ "title": evil }).to_string()),
    )
    .await;
    assert_eq!(s, 200);
    let top: Vec<String> = serde_json::from_value(
        b.until(
            "the title change on top",
            15,
            "const r = document.querySelector('#change-table tbody tr'); return r && r.cells.length === 7 && r.cells[6].textContent.startsWith('title:') && [...r.cells].map(c => c.textContent)",
            json!([]),
        )
        .await,
    )
    .unwrap();
    assert_eq!(top[6], format!("title: Broken boiler → {evil}"), "{top:?}");
    assert_eq!(top[3], "3", "{top:?}");
    let markup = b
        .js(
            "return [document.querySelectorAll('#change-table img, #change-table script').length, typeof window.pwned]",
            json!([]),
        )
        .await;
    assert_eq!(markup, json!([0, "undefined"]), "the title ran as markup");
    assert_eq!(shown_types(&b).await, ["case.updated", "case.updated"]);

    // A bulk job: its item names the job, and its end links to the job's page.
    let body = json!([{"caseId": id, "status": "Pending"}]);
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
    let end = row_cells(&b, "the job's end", "tr[data-type='job.completed']").await;
    assert_eq!(end[2], job_id, "{end:?}");
    assert_eq!(end[6], "completed: 1 succeeded, 0 failed", "{end:?}");
    b.find(&format!(
        "#change-table tbody tr[data-type='job.completed'] a[href='/console/jobs/{job_id}']"
    ))
    .await;
    let item = row_cells(
        &b,
        "the job's item",
        &format!("tr[data-type='case.updated'][data-job-id='{job_id}']"),
    )
    .await;
    assert_eq!(item[2], format!("{id} · job {job_id}"), "{item:?}");
    assert_eq!(item[6], "status: Open → Pending", "{item:?}");
    audit_accessibility(&b, "the changes page").await;

    // Only deletions: the list starts again, and an update does not show.
    b.choose("#changes-type", "case.deleted").await;
    wait_live(&b).await;
    assert!(shown_types(&b).await.is_empty());
    let (s, _, _) = call(
        &app,
        "PATCH",
        &format!("/api/v1/cases/{id}"),
        Some(&token),
        Some(r#"{"assignee":"dana"}"#),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _, _) = call(
        &app,
        "DELETE",
        &format!("/api/v1/cases/{id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(s, 204);
    let gone = row_cells(
        &b,
        "the deletion",
        &format!("tr[data-type='case.deleted'][data-case-id='{id}']"),
    )
    .await;
    assert_eq!(gone[2], id, "{gone:?}");
    assert_eq!(shown_types(&b).await, ["case.deleted"]);
    assert!(
        b.all("#change-table tbody tr[data-type='case.deleted'] a")
            .await
            .is_empty(),
        "a deleted case has no page to link to"
    );

    // Every type again, from the oldest change kept: the whole story, newest first.
    b.choose("#changes-type", "All types").await;
    wait_live(&b).await;
    b.click_on("#changes-from-oldest").await;
    let all = b
        .until(
            "every change since the oldest",
            15,
            "const t = [...document.querySelectorAll('#change-table tbody tr[data-type]')].map(r => r.dataset.type); return t.length === 7 && t",
            json!([]),
        )
        .await;
    assert_eq!(
        all,
        json!([
            "case.deleted",
            "case.updated",
            "job.completed",
            "case.updated",
            "case.updated",
            "case.updated",
            "case.created"
        ])
    );
    let created = row_cells(&b, "the creation", "tr[data-type='case.created']").await;
    assert!(
        created[6].contains("title: — → Broken boiler"),
        "{created:?}"
    );
    assert_eq!(b.text_of("#changes-count").await, "7 changes received.");
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_deletes_a_case_from_its_page_once_confirmed_and_not_one_changed_meanwhile() {
    if !available("console delete") {
        return;
    }
    let app = spawn_app().await;
    let first = app
        .create(json!({"title": "Duplicate of CASE-7", "status": "Open"}))
        .await
        .case_id;
    let second = app
        .create(json!({"title": "Opened twice", "status": "Open"}))
        .await
        .case_id;
    let (_, token) = make_key(&app, "lead", &["cases:read", "cases:write"]).await;
    let b = Browser::start().await;
    sign_in(&b, &app, &token, &format!("/console/cases/{first}")).await;

    // The confirmation starts on Cancel: Enter there deletes nothing.
    b.click_on("#delete-case").await;
    b.find("#case-delete-confirm").await;
    let text = b.text_of("#case-delete-text").await;
    assert!(
        text.contains(&first) && text.contains("version 1"),
        "{text}"
    );
    assert_eq!(
        b.js("return document.activeElement.id", json!([])).await,
        json!("case-delete-cancel")
    );
    audit_accessibility(&b, "the delete confirmation").await;
    b.keys("\u{E007}").await;
    b.until(
        "the dialog to close",
        15,
        "return !document.querySelector('#case-delete-confirm')",
        json!([]),
    )
    .await;
    assert_eq!(status_of(&app, &token, &first).await.0, 200);

    // Confirmed: the case is deleted and the list says so.
    b.click_on("#delete-case").await;
    b.click_on("#case-delete-apply").await;
    b.until(
        "the case list",
        15,
        "return location.pathname === '/console/cases' && document.querySelector('#case-table tbody tr')",
        json!([]),
    )
    .await;
    b.until(
        "the toast",
        15,
        "return document.getElementById('toast').textContent === arguments[0]",
        json!([format!("Deleted {first}.")]),
    )
    .await;
    let (s, body) = status_of(&app, &token, &first).await;
    assert_eq!(s, 404, "{body}");
    assert_eq!(body["code"], json!("case_not_found"));

    // Someone else changes the other case while its deletion is being confirmed: it is
    // not deleted, and the page shows what changed.
    b.goto(&format!("{}/console/cases/{second}", app.base))
        .await;
    b.click_on("#delete-case").await;
    b.find("#case-delete-confirm").await;
    let (s, _, _) = call(
        &app,
        "PATCH",
        &format!("/api/v1/cases/{second}"),
        Some(&token),
        Some(r#"{"priority":"High"}"#),
    )
    .await;
    assert_eq!(s, 200);
    b.click_on("#case-delete-apply").await;
    let conflict = b.text_of("#delete-conflict").await;
    assert!(
        conflict.contains("version 1 → 2") && conflict.contains("High"),
        "{conflict}"
    );
    assert_eq!(
        status_of(&app, &token, &second).await.0,
        200,
        "nothing deleted"
    );
    b.until(
        "the latest version shown",
        15,
        "return document.querySelector('[data-fact=Version]').textContent === '2'",
        json!([]),
    )
    .await;
    audit_accessibility(&b, "a delete that met a change").await;

    // Deleting the version now shown goes through.
    b.click_on("#delete-conflict-confirm").await;
    b.until(
        "the case list",
        15,
        "return location.pathname === '/console/cases' && document.getElementById('toast').textContent === arguments[0]",
        json!([format!("Deleted {second}.")]),
    )
    .await;
    let (s, body) = status_of(&app, &token, &second).await;
    assert_eq!(s, 404, "{body}");
    b.quit().await;
}
