//! Callback targets: link-local and cloud-metadata addresses are refused when a job is
//! submitted and again at delivery; loopback and private ones too unless
//! `callbacks.allowed_hosts` lists them; a non-empty list limits the hosts. Callback
//! URLs are shown redacted; redelivery is rate limited; a slow receiver delays no
//! other's callbacks.
//!
//! Every URL a test here submits or stores names a receiver the test started on
//! 127.0.0.1 (in some spelling), or no network at all (`javascript:`): no other address
//! is ever handed to the server, not even one it refuses. Which address classes are
//! refused (metadata, link-local, private, CGNAT, ULA, NAT64, ...) is tested on the
//! pure functions in `engine/targets.rs`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_app_with};

async fn submit_with_callback(
    app: &TestApp,
    url: &str,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let body = json!({
        "updates": [{"caseId": "CASE-000001", "status": "Pending"}],
        "options": {"callbackUrl": url}
    });
    app.send_json("PATCH", "/api/v1/cases/bulk-update", &body)
        .await
}

backend_test! {
    async fn a_non_http_or_unlisted_loopback_callback_url_is_refused_at_submission() {
        let (addr, seen) = receiver(Duration::ZERO).await;
        let app = spawn_app_with(|c| c.callbacks.secret = Some("s".into())).await;
        app.seed(1).await;
        for url in [
            format!("http://{addr}/hook"),
            format!("http://2130706433:{}/hook", addr.port()),
            format!("http://[::ffff:127.0.0.1]:{}/hook", addr.port()),
            format!("ftp://{addr}/hook"),
            "javascript:alert(1)".to_owned(),
        ] {
            let (s, h, b) = submit_with_callback(&app, &url).await;
            assert_problem(s, &h, &b, 422, "validation_failed");
            assert_eq!(b["errors"][0]["field"], "options.callbackUrl", "{url}: {b}");
        }
        assert_eq!(app.job_count().await, 0);
        assert!(seen.lock().unwrap().is_empty());
    }
}

backend_test! {
    async fn the_allow_list_limits_callbacks_to_its_hosts() {
        let (addr, seen) = receiver(Duration::ZERO).await;
        let app = spawn_app_with(|c| {
            c.callbacks.secret = Some("s".into());
            c.callbacks.allowed_hosts = vec!["localhost".into()];
        })
        .await;
        app.seed(1).await;
        // The same receiver by an address the list does not name: refused.
        let (s, h, b) = submit_with_callback(&app, &format!("http://{addr}/hook")).await;
        assert_problem(s, &h, &b, 422, "validation_failed");
        assert!(b["detail"].as_str().unwrap().contains("allowed_hosts"), "{b}");
        assert_eq!(app.job_count().await, 0);
        // By the name it lists: accepted and delivered, loopback though it is.
        let url = format!("http://localhost:{}/hook", addr.port());
        let (s, _, b) = submit_with_callback(&app, &url).await;
        assert_eq!(s, 200, "{url}: {b}");
        let d = settled_delivery(&app, b["jobId"].as_str().unwrap()).await;
        assert_eq!(d["state"], "delivered", "{d}");
        assert_eq!(seen.lock().unwrap().len(), 1);
    }
}

backend_test! {
    async fn a_refused_callback_stored_anyway_is_refused_at_delivery_and_not_retried() {
        let (addr, seen) = receiver(Duration::ZERO).await;
        let app = spawn_app_with(|c| {
            c.callbacks.secret = Some("s".into());
            c.callbacks.initial_backoff_ms = 10;
        })
        .await;
        app.seed(1).await;
        // Stored straight in the store, as if the rules had been looser when it was made:
        // a loopback receiver no allow-list names.
        let job = docket_server::store::NewJob {
            id: docket_server::domain::new_job_id(),
            items: vec![(
                "CASE-000001".into(),
                json!({"caseId": "CASE-000001", "status": "Pending"}).to_string(),
            )]
            .into(),
            kind: Default::default(),
            by_filter: None,
            template: None,
            dry_run: false,
            revert_of: None,
            upsert_by: None,
            atomic: false,
            callback_url: Some(format!("http://{addr}/hook")),
            parent_id: None,
            idempotency: None,
            actor: "test".into(),
            created_at: docket_server::domain::Timestamp::now(),
        };
        let limits = docket_server::store::SubmitLimits {
            max_queued_items: 1000,
            idempotency_since: docket_server::domain::Timestamp(0),
        };
        let id = job.id.clone();
        app.state.engine.store.submit_job(job, limits).await.unwrap();
        app.state.engine.wake();
        app.wait_job(&id).await;
        let d = settled_delivery(&app, &id).await;
        assert_eq!(d["state"], "failed", "{d}");
        let attempts = d["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 1, "a refused target was retried: {d}");
        assert!(attempts[0]["statusCode"].is_null());
        let error = attempts[0]["error"].as_str().unwrap();
        assert!(error.starts_with("refused") && error.contains("loopback"), "{error}");
        assert!(seen.lock().unwrap().is_empty(), "the receiver was contacted");
    }
}

/// A receiver on 127.0.0.1 that records each request's path and query, answering 200
/// after `delay`.
async fn receiver(delay: Duration) -> (std::net::SocketAddr, Arc<Mutex<Vec<String>>>) {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let record = seen.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let record = record.clone();
        async move {
            record.lock().unwrap().push(uri.to_string());
            tokio::time::sleep(delay).await;
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, seen)
}

/// Polls a job's callback delivery until it leaves `pending` (bounded).
async fn settled_delivery(app: &TestApp, job: &str) -> Value {
    let mut view = Value::Null;
    for _ in 0..400 {
        view = app
            .raw("GET", &format!("/api/v1/jobs/{job}/callbacks"), None)
            .await
            .2;
        if view["items"][0]["state"] != "pending" && !view["items"][0].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    view["items"][0].clone()
}

backend_test! {
    async fn a_loopback_receiver_gets_its_callback_when_listed_by_address_or_block() {
        for entry in ["127.0.0.1", "127.0.0.0/8"] {
            let (addr, seen) = receiver(Duration::ZERO).await;
            let app = spawn_app_with(|c| {
                c.callbacks.secret = Some("s".into());
                c.callbacks.allowed_hosts = vec![entry.into()];
            })
            .await;
            app.seed(1).await;
            let (s, _, b) = submit_with_callback(&app, &format!("http://{addr}/hook")).await;
            assert_eq!(s, 200, "{entry}: {b}");
            let d = settled_delivery(&app, b["jobId"].as_str().unwrap()).await;
            assert_eq!(d["state"], "delivered", "{entry}: {d}");
            assert_eq!(seen.lock().unwrap().len(), 1);
        }
    }
}

backend_test! {
    async fn a_name_resolving_to_loopback_is_refused_at_connect_and_nothing_is_contacted() {
        let (addr, seen) = receiver(Duration::ZERO).await;
        let app = spawn_app_with(|c| {
            c.callbacks.secret = Some("s".into());
            c.callbacks.initial_backoff_ms = 10;
        })
        .await;
        app.seed(1).await;
        // A name passes at submission: only its addresses tell, at delivery.
        let url = format!("http://localhost:{}/hook", addr.port());
        let (s, _, b) = submit_with_callback(&app, &url).await;
        assert_eq!(s, 200, "{b}");
        let d = settled_delivery(&app, b["jobId"].as_str().unwrap()).await;
        assert_eq!(d["state"], "failed", "{d}");
        let attempts = d["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 1, "a refused target was retried: {d}");
        let error = attempts[0]["error"].as_str().unwrap();
        assert!(error.starts_with("refused") && error.contains("loopback"), "{error}");
        assert!(seen.lock().unwrap().is_empty(), "the receiver was contacted");
    }
}

backend_test! {
    async fn a_callback_url_over_2048_bytes_is_refused() {
        let app = spawn_app_with(|c| c.callbacks.secret = Some("s".into())).await;
        app.seed(1).await;
        let (addr, _) = receiver(Duration::ZERO).await;
        let url = format!("http://{addr}/{}", "a".repeat(2048));
        let (s, h, b) = submit_with_callback(&app, &url).await;
        assert_problem(s, &h, &b, 422, "validation_failed");
        assert_eq!(b["errors"][0]["field"], "options.callbackUrl", "{b}");
        assert_eq!(app.job_count().await, 0);
    }
}

backend_test! {
    async fn callback_urls_are_shown_without_userinfo_or_query_but_delivered_whole() {
        let (addr, seen) = receiver(Duration::ZERO).await;
        let app = spawn_app_with(|c| {
            c.callbacks.secret = Some("s".into());
            c.callbacks.allowed_hosts = vec!["127.0.0.1".into()];
        })
        .await;
        app.seed(1).await;
        let url = format!("http://hookuser:hookpass@{addr}/hook?token=s3cret");
        let (s, _, b) = submit_with_callback(&app, &url).await;
        assert_eq!(s, 200, "{b}");
        let job = b["jobId"].as_str().unwrap().to_owned();
        let d = settled_delivery(&app, &job).await;
        assert_eq!(d["state"], "delivered", "{d}");
        assert_eq!(seen.lock().unwrap().as_slice(), ["/hook?token=s3cret"]);
        let shown = format!("http://***@{addr}/hook?***");
        assert_eq!(d["url"], shown.as_str());
        let status = app.raw("GET", &format!("/api/v1/jobs/{job}/status"), None).await.2;
        assert_eq!(status["callbackUrl"], shown.as_str(), "{status}");
        let list = app.raw("GET", "/api/v1/jobs", None).await.2;
        assert_eq!(list["items"][0]["callbackUrl"], shown.as_str(), "{list}");
        for body in [d, status, list] {
            let text = body.to_string();
            assert!(!text.contains("s3cret") && !text.contains("hookpass"), "{text}");
        }
    }
}

backend_test! {
    async fn redelivering_a_callback_twice_within_a_second_is_429_with_retry_after() {
        let (addr, _seen) = receiver(Duration::ZERO).await;
        let app = spawn_app_with(|c| {
            c.callbacks.secret = Some("s".into());
            c.callbacks.allowed_hosts = vec!["127.0.0.1".into()];
        })
        .await;
        app.seed(1).await;
        let (_, _, b) = submit_with_callback(&app, &format!("http://{addr}/hook")).await;
        let job = b["jobId"].as_str().unwrap().to_owned();
        settled_delivery(&app, &job).await;
        let path = format!("/api/v1/jobs/{job}/callbacks/redeliver");
        let (s, _, b) = app.raw("POST", &path, None).await;
        assert_eq!(s, 202, "{b}");
        let (s, h, b) = app.raw("POST", &path, None).await;
        assert_problem(s, &h, &b, 429, "rate_limited");
        let wait: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=2).contains(&wait), "{wait}");
        app.clock.advance(Duration::from_millis(1_000));
        let (s, _, b) = app.raw("POST", &path, None).await;
        assert_eq!(s, 202, "{b}");
    }
}

/// Submits a one-item job with a callback to `addr` and waits for the job to end.
async fn job_calling(app: &TestApp, case: u64, addr: std::net::SocketAddr) {
    let body = json!({
        "updates": [{"caseId": format!("CASE-{case:06}"), "status": "Pending"}],
        "options": {"callbackUrl": format!("http://{addr}/hook")}
    });
    let (s, _, b) = app
        .send_json("PATCH", "/api/v1/cases/bulk-update", &body)
        .await;
    assert_eq!(s, 200, "{b}");
    app.wait_job(b["jobId"].as_str().unwrap()).await;
}

/// Waits until `seen` has `n` requests (bounded by `within`); how long it took.
async fn arrivals(seen: &Mutex<Vec<String>>, n: usize, within: Duration) -> Duration {
    let start = Instant::now();
    while seen.lock().unwrap().len() < n && start.elapsed() < within {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    start.elapsed()
}

backend_test! {
    async fn hanging_receivers_do_not_delay_another_receivers_callback() {
        let hang = Duration::from_secs(10);
        let app = spawn_app_with(|c| {
            c.callbacks.secret = Some("s".into());
            c.callbacks.allowed_hosts = vec!["127.0.0.1".into()];
            c.callbacks.timeout_seconds = 10;
        })
        .await;
        app.seed(7).await;
        let mut slow = Vec::new();
        for case in 1..=6 {
            let (addr, seen) = receiver(hang).await;
            job_calling(&app, case, addr).await;
            slow.push(seen);
        }
        let (fast, seen) = receiver(Duration::ZERO).await;
        let start = Instant::now();
        job_calling(&app, 7, fast).await;
        arrivals(&seen, 1, hang).await;
        let took = start.elapsed();
        assert_eq!(seen.lock().unwrap().len(), 1, "the fast callback never came");
        assert!(took < Duration::from_secs(3), "the fast callback took {took:?}");
        // The slow ones are under way too, each on its own receiver.
        for s in &slow {
            assert_eq!(s.lock().unwrap().len(), 1);
        }
    }
}

backend_test! {
    async fn one_hanging_receiver_cannot_take_every_delivery_slot() {
        let hang = Duration::from_secs(10);
        let app = spawn_app_with(|c| {
            c.callbacks.secret = Some("s".into());
            c.callbacks.allowed_hosts = vec!["127.0.0.1".into()];
            c.callbacks.timeout_seconds = 10;
            c.callbacks.max_in_flight = 4;
            c.callbacks.max_per_host = 2;
        })
        .await;
        app.seed(7).await;
        let (slow, slow_seen) = receiver(hang).await;
        for case in 1..=6 {
            job_calling(&app, case, slow).await;
        }
        let (fast, seen) = receiver(Duration::ZERO).await;
        let start = Instant::now();
        job_calling(&app, 7, fast).await;
        arrivals(&seen, 1, hang).await;
        let took = start.elapsed();
        assert_eq!(seen.lock().unwrap().len(), 1, "the fast callback never came");
        assert!(took < Duration::from_secs(3), "the fast callback took {took:?}");
        // The slow receiver holds at most its two slots.
        assert_eq!(slow_seen.lock().unwrap().len(), 2);
    }
}
