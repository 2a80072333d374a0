//! A case's comments in the console, in a real headless Chromium: a note holding HTML
//! and script text is shown as text, the case edit goes on without a false conflict
//! after it, an edit meeting a concurrent edit shows the conflict and keeps both texts,
//! and a deletion; and a note added to 50 cases in one bulk change.

use serde_json::json;

use crate::auth::{call, make_key};
use crate::browser::{audit_accessibility, sign_in, wait_job_text};
use crate::helpers::*;
use crate::webdriver::{Browser, available};

const TEXT: &str = "<script>window.pwned = 1</script><b>not bold</b> & <img src=x onerror=\"window.pwned = 2\">\nsecond line";

/// The page's one comment is the internal note `TEXT`, shown as its text: nothing of it
/// renders as markup or runs.
async fn assert_the_note_shows_as_text(b: &Browser) {
    b.until(
        "the note",
        15,
        "return document.querySelectorAll('#comment-list .comment').length === 1",
        json!([]),
    )
    .await;
    let shown = b
        .js(
            "return document.querySelector('#comment-list .comment-body').textContent",
            json!([]),
        )
        .await;
    assert_eq!(shown, json!(TEXT));
    let markup = b.js("return document.querySelectorAll('#comment-list b, #comment-list script, #comment-list img').length + ':' + String(window.pwned)", json!([])).await;
    assert_eq!(markup, json!("0:undefined"));
    assert_eq!(b.text_of("#comment-list .badge").await, "Internal note");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_comments_show_as_text_and_edits_meet_conflicts() {
    if !available("console comments") {
        return;
    }
    let app = spawn_app().await;
    let case = app
        .create(json!({"title": "Leaking tap", "status": "Open"}))
        .await;
    let id = case.case_id.clone();
    let (_, token) = make_key(&app, "agent", &["admin"]).await;
    let b = Browser::start().await;
    sign_in(&b, &app, &token, &format!("/console/cases/{id}")).await;

    // A note holding markup: shown as its text, nothing of it runs or renders.
    b.find("#comment-body").await;
    b.js(
        "document.querySelector('#comment-body').value = arguments[0]",
        json!([TEXT]),
    )
    .await;
    b.click_on("#comment-add").await;
    assert_the_note_shows_as_text(&b).await;
    b.until(
        "the case's count",
        15,
        "return document.querySelector('[data-fact=Comments]').textContent === '1'",
        json!([]),
    )
    .await;
    audit_accessibility(&b, "a case's comments").await;

    // The note moved the case's version; the edit form follows it, so saving the title
    // is no conflict.
    let title = b.find("#edit-title").await;
    b.clear(&title).await;
    b.type_into(&title, "Leaking tap, kitchen").await;
    b.click_on("#save-case").await;
    b.until(
        "the saved case",
        15,
        "return document.querySelector('[data-fact=Version]').textContent === '3'",
        json!([]),
    )
    .await;
    assert!(b.all("#conflict").await.is_empty(), "a false conflict");

    // An edit that meets someone else's edit: nothing saved, both texts kept.
    let (_, _, listed) = call(
        &app,
        "GET",
        &format!("/api/v1/cases/{id}/comments"),
        Some(&token),
        None,
    )
    .await;
    let cid = listed["items"][0]["commentId"].as_str().unwrap().to_owned();
    b.click_on("#comment-list .comment-edit").await;
    let (s, _, _) = call(
        &app,
        "PATCH",
        &format!("/api/v1/cases/{id}/comments/{cid}"),
        Some(&token),
        Some(r#"{"body":"theirs"}"#),
    )
    .await;
    assert_eq!(s, 200);
    let edit = b.find("#comment-list .comment-edit-body").await;
    b.clear(&edit).await;
    b.type_into(&edit, "mine").await;
    b.click_on("#comment-list .comment-save").await;
    let conflict = b.text_of("#comment-list .comment-conflict").await;
    assert!(
        conflict.contains("version 1 → 2") && conflict.contains("theirs"),
        "{conflict}"
    );
    let kept = b
        .js(
            "return document.querySelector('#comment-list .comment-edit-body').value",
            json!([]),
        )
        .await;
    assert_eq!(kept, json!("mine"));
    let (_, _, now) = call(
        &app,
        "GET",
        &format!("/api/v1/cases/{id}/comments"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(
        now["items"][0]["body"], "theirs",
        "nothing saved on conflict"
    );
    b.click_on("#comment-list .comment-save").await;
    b.until("the saved comment", 15, "return document.querySelector('#comment-list .comment-body') !== null && document.querySelector('#comment-list .comment-body').textContent === 'mine'", json!([])).await;
    let (_, _, now) = call(
        &app,
        "GET",
        &format!("/api/v1/cases/{id}/comments"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(
        (
            now["items"][0]["body"].as_str(),
            now["items"][0]["version"].as_u64()
        ),
        (Some("mine"), Some(3))
    );

    // Deleted (the confirmation answered yes): gone from the thread and the count.
    b.js("window.confirm = () => true", json!([])).await;
    b.click_on("#comment-list .comment-delete").await;
    b.until("the deletion", 15, "return document.querySelectorAll('#comment-list .comment').length === 0 && document.querySelector('[data-fact=Comments]').textContent === '0'", json!([])).await;
    let (_, _, now) = call(
        &app,
        "GET",
        &format!("/api/v1/cases/{id}/comments"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(now["items"], json!([]));
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_bulk_change_adds_a_note_to_50_cases_read_back_on_a_case_page() {
    if !available("console bulk note") {
        return;
    }
    let app = spawn_app().await;
    for i in 0..50 {
        app.create(json!({"title": format!("Outage report {i}"), "tags": ["outage"]}))
            .await;
    }
    app.create(json!({"title": "Unrelated"})).await;
    let (_, token) = make_key(&app, "lead", &["admin"]).await;
    let b = Browser::start().await;
    sign_in(&b, &app, &token, "/console/cases?tag=outage").await;
    b.until(
        "the filtered list",
        15,
        "return document.querySelectorAll('#case-table tbody tr').length === 50",
        json!([]),
    )
    .await;
    b.click_on("#bulk-target-filter").await;
    b.choose("#bulk-field", "Add a note").await;
    b.find("#bulk-value").await;
    b.js(
        "document.querySelector('#bulk-value').value = arguments[0]",
        json!([TEXT]),
    )
    .await;
    b.click_on("#bulk-review").await;
    assert_eq!(b.text_of("#bulk-confirm-count").await, "50");
    assert!(
        b.text_of("#bulk-confirm-text")
            .await
            .starts_with("Add the internal note")
    );
    b.click_on("#bulk-confirm-apply").await;
    wait_job_text(&b, "Completed: 50 succeeded, 0 failed").await;
    let (_, _, noted) = call(
        &app,
        "GET",
        "/api/v1/cases?tag=outage&limit=100",
        Some(&token),
        None,
    )
    .await;
    let items = noted["items"].as_array().unwrap();
    assert_eq!(items.len(), 50);
    assert!(items.iter().all(|c| c["commentCount"] == 1), "{noted}");
    let (_, _, plain) = call(&app, "GET", "/api/v1/cases?q=Unrelated", Some(&token), None).await;
    assert_eq!(plain["items"][0]["commentCount"], 0);

    // Read back on one case's page, as text.
    let one = items[7]["caseId"].as_str().unwrap();
    b.goto(&format!("{}/console/cases/{one}", app.base)).await;
    assert_the_note_shows_as_text(&b).await;
    b.quit().await;
}
