//! The console's import page (a CSV uploaded, followed live) and a tag added to every
//! case matching the filter, in a real Chromium.

use serde_json::json;

use crate::auth::{call, make_key};
use crate::browser::{sign_in, wait_job_text};
use crate::helpers::*;
use crate::webdriver::{Browser, available};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_imports_a_csv_then_tags_every_imported_case() {
    if !available("console import") {
        return;
    }
    let app = spawn_app().await;
    app.create(json!({"title": "already here", "externalId": "SF-1"}))
        .await;
    let (_, token) = make_key(&app, "lead", &["cases:read", "cases:write", "jobs:read"]).await;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("cases.csv");
    std::fs::write(
        &csv,
        "title,externalId,priority\n\"Imported, first\",SF-1,High\nImported second,SF-2,Low\n",
    )
    .unwrap();
    let b = Browser::start().await;
    sign_in(&b, &app, &token, "/console/import").await;
    let file = b.find("#import-file").await;
    b.type_into(&file, csv.to_str().unwrap()).await;
    b.click_on("#import-upsert").await;
    b.click_on("#import-start").await;
    wait_job_text(&b, "Completed: 2 succeeded, 0 failed").await;
    let (_, _, one) = call(
        &app,
        "GET",
        "/api/v1/cases?externalId=SF-1",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(one["items"][0]["title"], "Imported, first", "{one}");
    assert_eq!(one["items"][0]["priority"], "High");
    // Every case whose title says "Imported": add a tag, by filter.
    b.goto(&format!("{}/console/cases?q=Imported", app.base))
        .await;
    b.until(
        "the filtered list",
        15,
        "return document.querySelectorAll('#case-table tbody tr').length === 2",
        json!([]),
    )
    .await;
    b.click_on("#bulk-target-filter").await;
    b.choose("#bulk-field", "Add tag").await;
    let value = b.find("#bulk-value").await;
    b.type_into(&value, "imported").await;
    b.click_on("#bulk-review").await;
    assert_eq!(b.text_of("#bulk-confirm-count").await, "2");
    b.click_on("#bulk-confirm-apply").await;
    wait_job_text(&b, "Completed: 2 succeeded, 0 failed").await;
    let (_, _, tagged) = call(
        &app,
        "GET",
        "/api/v1/cases?tag=imported",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(tagged["items"].as_array().unwrap().len(), 2, "{tagged}");
    b.quit().await;
}
