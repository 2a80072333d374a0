//! Callback targets: link-local and cloud-metadata addresses are refused when a job is
//! submitted and again at delivery; `callbacks.allowed_hosts` limits the hosts.

use std::time::Duration;

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
    async fn metadata_and_link_local_callback_urls_are_refused_at_submission() {
        let app = spawn_app_with(|c| c.callbacks.secret = Some("s".into())).await;
        app.seed(1).await;
        for url in [
            "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
            "http://2852039166/latest/meta-data/",
            "http://[fd00:ec2::254]/latest/meta-data/",
            "http://[fe80::1%25eth0]/",
            "http://[fe80::1]/",
            "http://[::ffff:169.254.169.254]/",
            "http://metadata.google.internal/computeMetadata/v1/",
            "http://100.100.100.200/latest/meta-data/",
            "ftp://example.com/hook",
            "javascript:alert(1)",
        ] {
            let (s, h, b) = submit_with_callback(&app, url).await;
            assert_problem(s, &h, &b, 422, "validation_failed");
            assert_eq!(b["errors"][0]["field"], "options.callbackUrl", "{url}: {b}");
        }
        assert_eq!(app.job_count().await, 0);
        // Loopback receivers (tests, sidecars) are fine.
        let (s, _, b) = submit_with_callback(&app, "http://127.0.0.1:9/hook").await;
        assert_eq!(s, 200, "{b}");
    }
}

backend_test! {
    async fn the_allow_list_limits_callbacks_to_its_hosts() {
        let app = spawn_app_with(|c| {
            c.callbacks.secret = Some("s".into());
            c.callbacks.allowed_hosts = vec!["hooks.example.com".into(), "*.corp.example".into()];
        })
        .await;
        app.seed(1).await;
        for url in ["http://127.0.0.1:9/hook", "https://evil.example.net/", "https://corp.example/"] {
            let (s, h, b) = submit_with_callback(&app, url).await;
            assert_problem(s, &h, &b, 422, "validation_failed");
            assert!(b["detail"].as_str().unwrap().contains("allowed_hosts"), "{b}");
        }
        assert_eq!(app.job_count().await, 0);
        for url in ["https://hooks.example.com/x", "https://ci.corp.example/x"] {
            let (s, _, b) = submit_with_callback(&app, url).await;
            assert_eq!(s, 200, "{url}: {b}");
        }
    }
}

backend_test! {
    async fn a_metadata_callback_stored_anyway_is_refused_at_delivery_and_not_retried() {
        let app = spawn_app_with(|c| {
            c.callbacks.secret = Some("s".into());
            c.callbacks.initial_backoff_ms = 10;
        })
        .await;
        app.seed(1).await;
        // Stored straight in the store, as if the rules had been looser when it was made.
        let job = docket_server::store::NewJob {
            id: docket_server::domain::new_job_id(),
            items: vec![(
                "CASE-000001".into(),
                json!({"caseId": "CASE-000001", "status": "Pending"}).to_string(),
            )],
            atomic: false,
            callback_url: Some("http://169.254.169.254/latest/meta-data/".into()),
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
        app.state.store.submit_job(job, limits).await.unwrap();
        app.state.engine.wake();
        app.wait_job(&id).await;
        let mut view = Value::Null;
        for _ in 0..200 {
            view = app.raw("GET", &format!("/api/v1/jobs/{id}/callbacks"), None).await.2;
            if view["items"][0]["state"] == "failed" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let d = &view["items"][0];
        assert_eq!(d["state"], "failed", "{view}");
        let attempts = d["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 1, "a refused target was retried: {view}");
        assert!(attempts[0]["statusCode"].is_null());
        let error = attempts[0]["error"].as_str().unwrap();
        assert!(error.starts_with("refused") && error.contains("metadata"), "{error}");
    }
}
