//! `docket webhooks` against a real server, and webhook delivery across a `kill -9` of
//! the delivering server: every change still reaches the receiver (on 127.0.0.1), each
//! under one delivery id.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

use crate::run::{cli, seed, setup};
use crate::server::{Server, free_port};

const ALLOW_LOOPBACK: &str = "[callbacks]\nallowed_hosts = [\"127.0.0.1\"]\n";

/// `(webhook-id, body)` of every request answered 200, and the URL.
async fn receiver(delay: Duration) -> (Arc<Mutex<Vec<(String, Value)>>>, String) {
    let seen: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    let record = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let record = record.clone();
            async move {
                tokio::time::sleep(delay).await;
                let id = headers["webhook-id"].to_str().unwrap().to_owned();
                let body: Value = serde_json::from_slice(&body).unwrap();
                record.lock().unwrap().push((id, body));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (seen, url)
}

async fn wait_for(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_commands_create_list_update_test_deliveries_redeliver_rotate_delete() {
    let (dir, db) = setup(ALLOW_LOOPBACK);
    seed(&db, 2);
    let server = Server::start(dir.path(), &db).await;
    let b = &server.base;
    let (seen, url) = receiver(Duration::ZERO).await;
    let made = cli(
        b,
        &[
            "webhooks",
            "create",
            "--url",
            &url,
            "--event",
            "case.updated,webhook.test",
            "-o",
            "json",
        ],
    )
    .expect(2);
    assert!(made.stderr.contains("validation_failed"), "{made}");
    let made = cli(
        b,
        &[
            "webhooks",
            "create",
            "--url",
            &url,
            "--event",
            "case.updated",
            "--tag",
            "vip",
            "-o",
            "json",
        ],
    )
    .expect(0)
    .json();
    let id = made["webhookId"].as_str().unwrap().to_owned();
    assert!(made["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(made["filter"]["tag"], serde_json::json!(["vip"]));
    let listed = cli(b, &["webhooks", "list"]).expect(0);
    assert!(listed.stdout.contains(&id), "{listed}");
    let got = cli(b, &["webhooks", "get", &id, "-o", "json"])
        .expect(0)
        .json();
    assert!(got.get("secret").is_none());
    let off = cli(b, &["webhooks", "update", &id, "--disable", "-o", "json"])
        .expect(0)
        .json();
    assert_eq!(off["enabled"], false);
    let on = cli(
        b,
        &[
            "webhooks",
            "update",
            &id,
            "--enable",
            "--no-filter",
            "-o",
            "json",
        ],
    )
    .expect(0)
    .json();
    assert_eq!(
        (on["enabled"].as_bool(), on["filter"].clone()),
        (Some(true), serde_json::json!({}))
    );
    cli(b, &["webhooks", "update", &id]).expect(2);

    let test = cli(b, &["webhooks", "test", &id]).expect(0);
    assert!(test.stdout.contains("queued test delivery msg_"), "{test}");
    wait_for("the test event", Duration::from_secs(30), || {
        seen.lock().unwrap().len() == 1
    })
    .await;
    let delivery = seen.lock().unwrap()[0].0.clone();
    assert_eq!(seen.lock().unwrap()[0].1["type"], "webhook.test");
    let log = cli(
        b,
        &[
            "webhooks",
            "deliveries",
            &id,
            "--status",
            "succeeded",
            "-o",
            "json",
        ],
    )
    .expect(0)
    .json();
    assert_eq!(log["items"][0]["deliveryId"], delivery.as_str());
    cli(b, &["webhooks", "redeliver", &id, &delivery]).expect(0);
    wait_for("the redelivery", Duration::from_secs(30), || {
        seen.lock().unwrap().len() == 2
    })
    .await;
    assert_eq!(seen.lock().unwrap()[1].0, delivery);

    let rotated = cli(b, &["webhooks", "rotate-secret", &id, "-o", "json"])
        .expect(0)
        .json();
    assert_ne!(rotated["secret"], made["secret"]);
    cli(b, &["webhooks", "delete", &id]).expect(0);
    let gone = cli(b, &["webhooks", "get", &id]).expect(2);
    assert!(gone.stderr.contains("webhook_not_found"), "{gone}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_of_the_delivering_server_loses_no_webhook_delivery() {
    const CASES: usize = 60;
    let (dir, db) = setup(ALLOW_LOOPBACK);
    seed(&db, CASES);
    let port = free_port();
    let server = Server::start_on(dir.path(), &db, port).await;
    let base = server.base.clone();
    // A slow receiver: deliveries are still under way when the server dies.
    let (seen, url) = receiver(Duration::from_millis(100)).await;
    cli(
        &base,
        &["webhooks", "create", "--url", &url, "--event", "*"],
    )
    .expect(0);
    let items: Vec<Value> = (1..=CASES)
        .map(|i| serde_json::json!({"caseId": format!("CASE-{i:06}"), "fields": {"hooked": true}}))
        .collect();
    let http = reqwest::Client::new();
    let res = http
        .post(format!("{base}/api/v1/cases/bulk-update"))
        .json(&items)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    wait_for("some deliveries", Duration::from_secs(60), || {
        seen.lock().unwrap().len() >= 10
    })
    .await;
    server.kill9();
    let before = seen.lock().unwrap().len();
    assert!(
        before < CASES,
        "everything was delivered before the kill: {before}"
    );

    let server = Server::start_on(dir.path(), &db, port).await;
    // Every change of the job (and its end) reaches the receiver.
    let feed: Value = http
        .get(format!(
            "{}/api/v1/changes?types=case.updated,job.completed&limit=1000",
            server.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let want: HashSet<String> = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["position"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(want.len(), CASES + 1);
    wait_for("every change delivered", Duration::from_secs(120), || {
        let got: HashSet<String> = seen
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(_, b)| b["data"]["position"].as_str().map(str::to_owned))
            .collect();
        want.is_subset(&got)
    })
    .await;
    // One delivery id per change (an attempt cut by the kill is repeated under its id).
    let mut ids: HashMap<String, HashSet<String>> = HashMap::new();
    for (id, b) in seen.lock().unwrap().iter() {
        if let Some(p) = b["data"]["position"].as_str() {
            ids.entry(p.to_owned()).or_default().insert(id.clone());
        }
    }
    assert!(
        ids.values().all(|s| s.len() == 1),
        "a change got two delivery ids"
    );
}
