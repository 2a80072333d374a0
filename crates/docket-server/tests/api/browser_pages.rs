//! The console's other pages in a real headless Chromium (see `browser.rs` for the
//! bulk flow and the helpers): an edit that meets a concurrent change, a read-only key,
//! the jobs and settings pages.

use serde_json::{Value, json};

use crate::auth::{call, make_key};
use crate::browser::{audit_accessibility, sign_in, wait_job_text};
use crate::helpers::*;
use crate::webdriver::{Browser, available};

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
    audit_accessibility(&b, "a case with a conflict").await;

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
    audit_accessibility(&b, "a case, read-only").await;
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
    audit_accessibility(&b, "the settings with an error").await;
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
