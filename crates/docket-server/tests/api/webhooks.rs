//! Webhooks: every matching change delivered once, signed as Standard Webhooks, in
//! order per case, through a receiver that fails at random; filters, rotation,
//! auto-disable, redelivery, test events, and the management API's answers. Receivers
//! are on 127.0.0.1 only. Time-driven steps (retries, the disable window) move the
//! server's clock instead of sleeping.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use docket_server::domain::webhook::verify;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};

/// One request the receiver got: its headers of note, body, and what it answered.
#[derive(Clone, Debug)]
pub struct Received {
    pub id: String,
    pub timestamp: i64,
    pub signature: String,
    pub body: String,
    pub answered: u16,
}

/// A receiver on 127.0.0.1 that fails `fail_percent` of requests (by a fixed
/// pseudo-random sequence); everything it got, and its URL.
pub async fn receiver(fail_percent: u64) -> (Arc<Mutex<Vec<Received>>>, String) {
    let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
    let record = seen.clone();
    let rng = Arc::new(AtomicU64::new(0x2545_f491_4f6c_dd1d));
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let (record, rng) = (record.clone(), rng.clone());
            async move {
                // xorshift: the same sequence every run.
                let mut x = rng.load(Ordering::Relaxed);
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                rng.store(x, Ordering::Relaxed);
                let fail = x % 100 < fail_percent;
                let status = if fail {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                };
                let h = |n: &str| {
                    headers
                        .get(n)
                        .map(|v| v.to_str().unwrap().to_owned())
                        .unwrap_or_default()
                };
                record.lock().unwrap().push(Received {
                    id: h("webhook-id"),
                    timestamp: h("webhook-timestamp").parse().unwrap_or(0),
                    signature: h("webhook-signature"),
                    body: String::from_utf8(body.to_vec()).unwrap(),
                    answered: status.as_u16(),
                });
                status
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (seen, url)
}

/// A server whose webhooks may call the loopback receiver.
async fn app() -> TestApp {
    spawn_app_with(|c| {
        c.callbacks.allowed_hosts = vec!["127.0.0.1".into()];
        c.webhooks.disable_after_hours = 1;
    })
    .await
}

async fn create(app: &TestApp, body: Value) -> Value {
    let (s, h, w) = app.send_json("POST", "/api/v1/webhooks", &body).await;
    assert_eq!(s, 201, "{w}");
    assert!(h.get("location").is_some() && h.get("x-consistency-token").is_some());
    w
}

/// Moves the server's clock a minute at a time (retries fall due) until `done`.
async fn until(app: &TestApp, what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..600 {
        if done() {
            return;
        }
        app.clock.advance(Duration::from_secs(60));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: not within 600 clock minutes");
}

fn accepted(seen: &Arc<Mutex<Vec<Received>>>) -> Vec<Received> {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|r| r.answered == 200)
        .cloned()
        .collect()
}

backend_test! {
    async fn a_receiver_failing_30_percent_gets_every_matching_change_once_signed_and_in_order() {
        let app = app().await;
        let (seen, url) = receiver(30).await;
        let hook = create(&app, json!({"url": url, "events": ["*"], "description": "all"})).await;
        let secret = hook["secret"].as_str().unwrap().to_owned();
        assert!(secret.starts_with("whsec_"));
        // Writes of every kind on five cases: creates, PATCHes, tasks, a bulk job, a delete.
        for i in 0..5 {
            app.create(json!({"caseId": format!("W-{i}"), "title": "t"})).await;
        }
        for round in 0..4 {
            for i in 0..5 {
                let priority = ["Low", "High"][round % 2];
                let body = json!({"assignee": format!("a{round}"), "priority": priority});
                app.send_json("PATCH", &format!("/api/v1/cases/W-{i}"), &body).await;
            }
        }
        app.send_json("POST", "/api/v1/cases/W-0/tasks", &json!({"title": "call"})).await;
        let items: Vec<Value> = (0..5).map(|i| json!({"caseId": format!("W-{i}"), "status": "Open"})).collect();
        let (_, _, job) = app.send_json("POST", "/api/v1/cases/bulk-update", &json!(items)).await;
        app.wait_job(job["jobId"].as_str().unwrap()).await;
        app.raw("DELETE", "/api/v1/cases/W-4", None).await;
        let (feed, _) = crate::changes::read_all(&app, "0", "").await;
        until(&app, "every change accepted", || accepted(&seen).len() >= feed.len()).await;
        tokio::time::sleep(Duration::from_millis(300)).await;

        let got = accepted(&seen);
        let all = seen.lock().unwrap().clone();
        assert!(all.len() > got.len(), "the receiver failed nothing: the test proves little");
        // Every change exactly once (by position), each signed with the secret.
        let mut positions: Vec<i64> = Vec::new();
        for r in &all {
            assert!(verify(&secret, &r.id, r.timestamp, r.body.as_bytes(), &r.signature), "bad signature on {}", r.id);
        }
        for r in &got {
            let v: Value = serde_json::from_str(&r.body).unwrap();
            assert_eq!(v["type"], v["data"]["type"]);
            positions.push(v["data"]["position"].as_str().unwrap().parse().unwrap());
        }
        let mut want: Vec<i64> = feed.iter().map(|c| c["position"].as_str().unwrap().parse().unwrap()).collect();
        let mut sorted = positions.clone();
        sorted.sort_unstable();
        want.sort_unstable();
        assert_eq!(sorted, want, "accepted deliveries against the feed");
        // A retried delivery keeps its webhook-id; ids are one per change.
        let ids: std::collections::HashSet<&str> = got.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids.len(), got.len());
        // Per case, in position order.
        let mut per_case: HashMap<String, Vec<i64>> = HashMap::new();
        for r in &got {
            let v: Value = serde_json::from_str(&r.body).unwrap();
            if let Some(case) = v["data"]["caseId"].as_str() {
                per_case.entry(case.into()).or_default().push(v["data"]["position"].as_str().unwrap().parse().unwrap());
            }
        }
        assert_eq!(per_case.len(), 5);
        for (case, p) in &per_case {
            assert!(p.windows(2).all(|w| w[0] < w[1]), "{case}: {p:?}");
        }
        // The log says the same: nothing pending, as many succeeded as changes.
        let id = hook["webhookId"].as_str().unwrap();
        let (s, _, pending) = app.raw("GET", &format!("/api/v1/webhooks/{id}/deliveries?status=pending"), None).await;
        assert_eq!(s, 200);
        assert!(pending["items"].as_array().unwrap().is_empty(), "{pending}");
        let (_, _, done) = app.raw("GET", &format!("/api/v1/webhooks/{id}/deliveries?status=succeeded&limit=1000"), None).await;
        let done = done["items"].as_array().unwrap();
        assert_eq!(done.len(), feed.len());
        assert!(done.iter().any(|d| d["attempts"].as_u64().unwrap() > 1));
    }
}

backend_test! {
    async fn filters_choose_the_changes_and_test_events_and_redelivery_arrive() {
        let app = app().await;
        let (seen, url) = receiver(0).await;
        let hook = create(&app, json!({
            "url": url,
            "events": ["case.updated"],
            "filter": {"status": ["under review"], "fields": ["status"]}
        })).await;
        let id = hook["webhookId"].as_str().unwrap().to_owned();
        app.create(json!({"caseId": "F-1", "title": "t", "status": "In Progress"})).await;
        app.send_json("PATCH", "/api/v1/cases/F-1", &json!({"priority": "High"})).await;
        app.send_json("PATCH", "/api/v1/cases/F-1", &json!({"status": "Under Review"})).await;
        app.send_json("PATCH", "/api/v1/cases/F-1", &json!({"assignee": "ann"})).await;
        until(&app, "the matching change", || !accepted(&seen).is_empty()).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let got = accepted(&seen);
        assert_eq!(got.len(), 1, "{got:?}");
        let v: Value = serde_json::from_str(&got[0].body).unwrap();
        assert_eq!(v["data"]["changes"][0]["to"], "Under Review");
        // A test event.
        let (s, h, d) = app.raw("POST", &format!("/api/v1/webhooks/{id}/test"), None).await;
        assert_eq!((s, d["type"].as_str()), (202, Some("webhook.test")));
        assert!(h.contains_key("x-consistency-token"), "a write answers with its token: {h:?}");
        until(&app, "the test event", || accepted(&seen).len() == 2).await;
        let test: Value = serde_json::from_str(&accepted(&seen)[1].body).unwrap();
        assert_eq!(test["type"], "webhook.test");
        // Redeliver the first: the same webhook-id again.
        let first = got[0].id.clone();
        let (s, h, d) = app.raw("POST", &format!("/api/v1/webhooks/{id}/deliveries/{first}/redeliver"), None).await;
        assert_eq!((s, d["status"].as_str()), (202, Some("pending")), "{d}");
        assert!(h.contains_key("x-consistency-token"), "{h:?}");
        until(&app, "the redelivery", || accepted(&seen).len() == 3).await;
        assert_eq!(accepted(&seen)[2].id, first);
        let (s, _, p) = app.raw("POST", &format!("/api/v1/webhooks/{id}/deliveries/msg_nope/redeliver"), None).await;
        assert_eq!((s, p["code"].as_str()), (404, Some("delivery_not_found")));
    }
}

backend_test! {
    async fn a_rotated_secret_signs_beside_the_new_one_for_a_day() {
        let app = app().await;
        let (seen, url) = receiver(0).await;
        let hook = create(&app, json!({"url": url, "events": ["case.created"]})).await;
        let (id, old) = (hook["webhookId"].as_str().unwrap().to_owned(), hook["secret"].as_str().unwrap().to_owned());
        let (s, _, rotated) = app.raw("POST", &format!("/api/v1/webhooks/{id}/rotate-secret"), None).await;
        assert_eq!(s, 200);
        let new = rotated["secret"].as_str().unwrap().to_owned();
        assert_ne!(new, old);
        app.create(json!({"caseId": "R-1", "title": "t"})).await;
        until(&app, "the first delivery", || accepted(&seen).len() == 1).await;
        let r = &accepted(&seen)[0];
        assert_eq!(r.signature.split(' ').count(), 2, "{}", r.signature);
        assert!(verify(&new, &r.id, r.timestamp, r.body.as_bytes(), &r.signature));
        assert!(verify(&old, &r.id, r.timestamp, r.body.as_bytes(), &r.signature));
        // A day on, only the new secret signs.
        app.clock.advance(Duration::from_secs(25 * 3600));
        app.create(json!({"caseId": "R-2", "title": "t"})).await;
        until(&app, "the second delivery", || accepted(&seen).len() == 2).await;
        let r = &accepted(&seen)[1];
        assert!(verify(&new, &r.id, r.timestamp, r.body.as_bytes(), &r.signature));
        assert!(!verify(&old, &r.id, r.timestamp, r.body.as_bytes(), &r.signature));
    }
}

backend_test! {
    async fn a_webhook_failing_past_the_disable_window_is_disabled_and_can_be_enabled() {
        let app = app().await;
        let (seen, url) = receiver(100).await;
        let hook = create(&app, json!({"url": url, "events": ["*"]})).await;
        let id = hook["webhookId"].as_str().unwrap().to_owned();
        app.create(json!({"caseId": "X-1", "title": "t"})).await;
        // webhooks.disable_after_hours = 1 here: an hour of failures disables it.
        until(&app, "disabled", || !seen.lock().unwrap().is_empty()).await;
        let disabled = |app: &TestApp| {
            let (base, http, id) = (app.base.clone(), app.http.clone(), id.clone());
            async move {
                let w: Value = http.get(format!("{base}/api/v1/webhooks/{id}")).send().await.unwrap().json().await.unwrap();
                w
            }
        };
        let mut w = disabled(&app).await;
        for _ in 0..200 {
            if w["enabled"] == false {
                break;
            }
            app.clock.advance(Duration::from_secs(600));
            tokio::time::sleep(Duration::from_millis(50)).await;
            w = disabled(&app).await;
        }
        assert_eq!(w["enabled"], false, "{w}");
        assert!(w["disabledReason"].as_str().unwrap().contains("failed"), "{w}");
        // Enabled again: the reason goes.
        let (s, _, w) = app.send_json("PATCH", &format!("/api/v1/webhooks/{id}"), &json!({"enabled": true})).await;
        assert_eq!(s, 200);
        assert_eq!((w["enabled"].as_bool(), w["disabledReason"].as_str()), (Some(true), None));
    }
}

backend_test! {
    async fn webhooks_are_managed_by_admins_with_clear_errors() {
        let app = app().await;
        let (_seen, url) = receiver(0).await;
        let hook = create(&app, json!({"url": url, "events": ["case.updated", "case.deleted"], "description": "d"})).await;
        let id = hook["webhookId"].as_str().unwrap().to_owned();
        assert!(id.starts_with("wh-"));
        assert_eq!((hook["enabled"].as_bool(), hook["createdAt"].is_string()), (Some(true), true));
        // The secret is shown only at creation (and rotation).
        let (s, _, got) = app.raw("GET", &format!("/api/v1/webhooks/{id}"), None).await;
        assert_eq!(s, 200);
        assert!(got.get("secret").is_none());
        let (_, _, list) = app.raw("GET", "/api/v1/webhooks", None).await;
        assert_eq!(list["items"].as_array().unwrap().len(), 1);
        assert!(list["items"][0].get("secret").is_none());
        let (s, _, w) = app.send_json("PATCH", &format!("/api/v1/webhooks/{id}"), &json!({"events": ["*"], "filter": {"tag": ["vip"]}})).await;
        assert_eq!(s, 200, "{w}");
        assert_eq!((w["events"].clone(), w["filter"].clone()), (json!(["*"]), json!({"tag": ["vip"]})));
        for (body, field) in [
            (json!({"url": url, "events": []}), "events"),
            (json!({"url": url, "events": ["case.exploded"]}), "events"),
            (json!({"url": "ftp://127.0.0.1/x", "events": ["*"]}), "url"),
        ] {
            let (s, _, p) = app.send_json("POST", "/api/v1/webhooks", &body).await;
            assert_eq!((s, p["code"].as_str()), (422, Some("validation_failed")), "{body}: {p}");
            assert_eq!(p["errors"][0]["field"], field, "{p}");
        }
        let (s, _, p) = app.send_json("POST", "/api/v1/webhooks", &json!({"url": url, "events": ["*"], "secret": "x"})).await;
        assert_eq!((s, p["code"].as_str()), (400, Some("unknown_field")), "{p}");
        let (s, _, p) = app.raw("GET", "/api/v1/webhooks/wh-nope", None).await;
        assert_eq!((s, p["code"].as_str()), (404, Some("webhook_not_found")));
        let (s, _, p) = app.raw("GET", &format!("/api/v1/webhooks/{id}/deliveries?status=lost"), None).await;
        assert_eq!((s, p["code"].as_str()), (400, Some("invalid_query")));
        let (s, h, _) = app.raw("DELETE", &format!("/api/v1/webhooks/{id}"), None).await;
        assert_eq!(s, 204);
        assert!(h.get("x-consistency-token").is_some());
        assert_eq!(app.raw("GET", &format!("/api/v1/webhooks/{id}"), None).await.0, 404);
    }
}

backend_test! {
    async fn a_loopback_url_is_refused_unless_allowed() {
        let app = spawn_app_with(|_| {}).await;
        let (_seen, url) = receiver(0).await;
        let (s, _, p) = app.send_json("POST", "/api/v1/webhooks", &json!({"url": url, "events": ["*"]})).await;
        assert_eq!((s, p["errors"][0]["field"].as_str()), (422, Some("url")), "{p}");
    }
}
