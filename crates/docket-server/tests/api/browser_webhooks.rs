//! The webhooks page in a real headless Chromium (see `browser.rs` for the harness): a
//! webhook created through the page's form (a refused URL shown first), its secret shown
//! once; a case changed through the API reaches a loopback receiver and shows in the
//! delivery log as succeeded; the webhook disabled through its toggle, its secret rotated
//! and the webhook deleted, each through the page. Receivers are on 127.0.0.1 only.

use std::time::{Duration, Instant};

use docket_server::domain::webhook::verify;
use serde_json::{Value, json};

use crate::auth::{call, make_key};
use crate::browser::{audit_accessibility, sign_in};
use crate::helpers::*;
use crate::webdriver::{Browser, available};
use crate::webhooks::receiver;

/// How many times the delivery log has loaded (the page counts it on the table).
async fn log_loads(b: &Browser) -> i64 {
    b.js(
        "const t = document.querySelector('#delivery-table'); return Number((t && t.dataset.loads) || 0)",
        json!([]),
    )
    .await
    .as_i64()
    .unwrap()
}

/// Presses Refresh until the log's newest delivery of `kind` has `status`; its cells.
async fn wait_delivery(b: &Browser, kind: &str, status: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let before = log_loads(b).await;
        b.click_on("#deliveries-refresh").await;
        b.until(
            "the delivery log to reload",
            15,
            "return Number(document.querySelector('#delivery-table').dataset.loads || 0) > arguments[0]",
            json!([before]),
        )
        .await;
        let cells = b
            .js(
                "const r = document.querySelector('#delivery-table tbody tr[data-type=\"' + arguments[0] + '\"]');
                 return r && r.dataset.status === arguments[1] && [...r.cells].map(c => c.textContent)",
                json!([kind, status]),
            )
            .await;
        if cells.is_array() {
            return serde_json::from_value(cells).unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "no {status} {kind} delivery in the log within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Whether the page scrolls sideways in a 390-px-wide window.
async fn assert_fits_a_phone(b: &Browser, page: &str) {
    b.resize(390, 844).await;
    let wide = b
        .js(
            "const r = document.documentElement; return r.scrollWidth > r.clientWidth && [r.scrollWidth, r.clientWidth]",
            json!([]),
        )
        .await;
    b.resize(1400, 1000).await;
    assert_eq!(wide, json!(false), "{page} scrolls sideways at 390 px");
}

async fn webhook(app: &TestApp, token: &str, id: &str) -> (u16, Value) {
    let (s, _, body) = call(
        app,
        "GET",
        &format!("/api/v1/webhooks/{id}"),
        Some(token),
        None,
    )
    .await;
    (s, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_webhooks_page_creates_shows_the_secret_once_logs_deliveries_and_disables() {
    if !available("console webhooks") {
        return;
    }
    let app = spawn_app_with(|c| {
        c.callbacks.allowed_hosts = vec!["127.0.0.1".into()];
    })
    .await;
    let (seen, url) = receiver(0).await;
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let case = app
        .create(json!({"title": "Broken boiler", "status": "Open"}))
        .await;
    let id = case.case_id.clone();
    let (_, token) = make_key(&app, "lead", &["admin"]).await;
    let b = Browser::start().await;
    sign_in(&b, &app, &token, "/console/webhooks").await;
    b.find("#webhook-form").await;
    assert_eq!(
        b.all("[data-nav=webhooks]:not([hidden])").await.len(),
        1,
        "the page is in an admin's navigation"
    );
    b.find("#webhook-table tbody tr").await;
    audit_accessibility(&b, "the webhooks page").await;
    assert_fits_a_phone(&b, "the webhooks page").await;

    // A URL the server refuses: the problem is shown on the field, nothing is made.
    let url_input = b.find("#wh-url").await;
    b.type_into(&url_input, "ftp://127.0.0.1/hook").await;
    b.click_on("#wh-event-case-updated").await;
    b.click_on("#create-webhook").await;
    let alert = b.text_of("#webhook-form [role=alert]").await;
    assert!(alert.contains("url:"), "{alert}");
    assert_eq!(
        b.js(
            "return document.querySelector('#wh-url').getAttribute('aria-invalid')",
            json!([])
        )
        .await,
        json!("true")
    );
    let (s, _, list) = call(&app, "GET", "/api/v1/webhooks", Some(&token), None).await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list["items"], json!([]), "nothing made");

    // The receiver's URL, case.updated only (still ticked), a description with markup.
    b.clear(&url_input).await;
    b.type_into(&url_input, &url).await;
    let description = b.find("#wh-description").await;
    b.type_into(&description, "<b>boiler</b> alerts").await;
    b.click_on("#create-webhook").await;
    let secret = b.text_of("#webhook-secret-value").await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    let note = b.text_of("#webhook-secret").await;
    assert!(note.contains("will not be shown again"), "{note}");
    b.find("#webhook-secret-copy").await;
    audit_accessibility(&b, "the webhooks page with a new secret").await;

    let (_, _, list) = call(&app, "GET", "/api/v1/webhooks", Some(&token), None).await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    let hook_id = items[0]["webhookId"].as_str().unwrap().to_owned();
    assert_eq!(items[0]["url"], json!(url));
    assert_eq!(items[0]["events"], json!(["case.updated"]));
    assert_eq!(items[0]["description"], json!("<b>boiler</b> alerts"));
    assert!(items[0].get("secret").is_none(), "{list}");
    let row = format!("#webhook-table tbody tr[data-webhook-id='{hook_id}']");
    let text = b.text_of(&row).await;
    assert!(
        text.contains(&url)
            && text.contains("case.updated")
            && text.contains("<b>boiler</b> alerts")
            && text.contains("Enabled"),
        "{text}"
    );
    assert!(
        b.all("#webhook-table b").await.is_empty(),
        "the description ran as markup"
    );

    // Shown once: after a reload the secret is nowhere on the page.
    b.goto(&format!("{}/console/webhooks", app.base)).await;
    b.find(&row).await;
    assert!(b.all("#webhook-secret").await.is_empty());
    let body = b.js("return document.body.textContent", json!([])).await;
    assert!(
        !body.as_str().unwrap().contains(&secret),
        "the secret was shown again"
    );

    // The webhook's page: a change made through the API reaches the receiver, signed
    // with the secret the page showed, and the log says it succeeded.
    b.click_on(&format!(
        "#webhook-table a[href='/console/webhooks/{hook_id}']"
    ))
    .await;
    b.find("#delivery-table").await;
    let (s, _, _) = call(
        &app,
        "PATCH",
        &format!("/api/v1/cases/{id}"),
        Some(&token),
        Some(r#"{"priority":"High"}"#),
    )
    .await;
    assert_eq!(s, 200);
    let cells = wait_delivery(&b, "case.updated", "succeeded").await;
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    let r = &got[0];
    assert!(
        verify(&secret, &r.id, r.timestamp, r.body.as_bytes(), &r.signature),
        "the delivery is not signed with the secret the page showed"
    );
    assert_eq!(cells[0], r.id, "{cells:?}");
    assert_eq!(cells[1], "case.updated", "{cells:?}");
    assert_eq!(cells[2], id, "{cells:?}");
    assert_eq!(cells[4], "succeeded", "{cells:?}");
    assert_eq!(cells[5], "1", "{cells:?}");
    assert_eq!(cells[7], "200", "{cells:?}");
    b.find(&format!(
        "#delivery-table tbody tr[data-delivery-id='{}'] a[href='/console/cases/{id}']",
        r.id
    ))
    .await;
    b.find(&format!("#redeliver-{}", r.id)).await;
    audit_accessibility(&b, "a webhook's page").await;
    assert_fits_a_phone(&b, "a webhook's page").await;

    // The status filter: no failed delivery.
    b.choose("#deliveries-status", "failed").await;
    b.until(
        "the failed deliveries",
        15,
        "const t = document.querySelector('#delivery-table tbody').textContent; return t === 'No failed delivery.'",
        json!([]),
    )
    .await;
    b.choose("#deliveries-status", "Any status").await;
    b.find("#delivery-table tbody tr[data-status=succeeded]")
        .await;

    // Disabled through the toggle: the page and the API say so.
    b.click_on("#webhook-toggle").await;
    b.until(
        "the webhook disabled",
        15,
        "return document.querySelector('[data-fact=State]').textContent === 'Disabled'
            && document.querySelector('#webhook-toggle').textContent === 'Enable'",
        json!([]),
    )
    .await;
    let (s, w) = webhook(&app, &token, &hook_id).await;
    assert_eq!(s, 200, "{w}");
    assert_eq!(w["enabled"], json!(false), "{w}");
    assert_eq!(w["disabledReason"], Value::Null, "{w}");

    // A new secret, after a confirmation that starts on Cancel, shown once.
    b.click_on("#webhook-rotate").await;
    b.find("#webhook-rotate-confirm").await;
    assert_eq!(
        b.js("return document.activeElement.id", json!([])).await,
        json!("webhook-rotate-confirm-cancel")
    );
    audit_accessibility(&b, "the rotation confirmation").await;
    b.click_on("#webhook-rotate-confirm-apply").await;
    let rotated = b.text_of("#webhook-secret-value").await;
    assert!(
        rotated.starts_with("whsec_") && rotated != secret,
        "{rotated}"
    );

    // Deleted through its confirmation: back to the list, which says so.
    b.click_on("#webhook-delete").await;
    b.find("#webhook-delete-confirm").await;
    b.click_on("#webhook-delete-confirm-apply").await;
    b.until(
        "the list after the delete",
        15,
        "return location.pathname === '/console/webhooks' && document.getElementById('toast').textContent === arguments[0]",
        json!([format!("Deleted webhook {hook_id}.")]),
    )
    .await;
    let (s, w) = webhook(&app, &token, &hook_id).await;
    assert_eq!(s, 404, "{w}");
    assert_eq!(w["code"], json!("webhook_not_found"));
    b.quit().await;
}
