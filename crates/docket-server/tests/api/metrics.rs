//! `/metrics` after a bulk job: job, item, cache and request figures moved by exactly
//! what the test did; `X-Request-Id` on every response.

use std::collections::HashMap;

use serde_json::json;

use crate::helpers::{TestApp, spawn_app};

/// Every sample of a scrape: `name{labels}` -> value.
async fn scrape(app: &TestApp) -> HashMap<String, f64> {
    let res = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text; version=1.0.0")
    );
    let text = res.text().await.unwrap();
    let mut out = HashMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').unwrap();
        out.insert(series.to_owned(), value.parse::<f64>().unwrap());
    }
    out
}

fn moved(before: &HashMap<String, f64>, after: &HashMap<String, f64>, series: &str) -> f64 {
    let get = |m: &HashMap<String, f64>| m.get(series).copied().unwrap_or(0.0);
    assert!(after.contains_key(series), "no sample {series}");
    get(after) - get(before)
}

async fn read_all(app: &TestApp, ids: &[String]) {
    for id in ids {
        let (s, _, _) = app.raw("GET", &format!("/api/v1/cases/{id}"), None).await;
        assert_eq!(s, 200);
    }
}

backend_test! {
    async fn metrics_after_a_bulk_job_count_its_jobs_items_cache_and_requests() {
        let app = spawn_app().await;
        app.seed(20).await;
        let cached: Vec<String> = (1..=5).map(|i| format!("CASE-{i:06}")).collect();
        let before = scrape(&app).await;
        // Five cases read twice: five misses, then five hits.
        read_all(&app, &cached).await;
        read_all(&app, &cached).await;
        // A job of ten items: the five cached cases, three others, two that do not exist.
        let mut updates: Vec<_> = (1..=8)
            .map(|i| json!({"caseId": format!("CASE-{i:06}"), "fields": {"metricsTest": true}}))
            .collect();
        updates.push(json!({"caseId": "NOPE-1", "priority": "Low"}));
        updates.push(json!({"caseId": "NOPE-2", "priority": "Low"}));
        let (s, h, accepted) = app
            .send_json("PATCH", "/api/v1/cases/bulk-update", &json!(updates))
            .await;
        assert_eq!(s, 200);
        assert!(h.contains_key("x-request-id"));
        let done = app.wait_job(accepted["jobId"].as_str().unwrap()).await;
        assert_eq!((done["succeeded"].as_u64(), done["failed"].as_u64()), (Some(8), Some(2)));
        // The five were dropped from the cache when the job changed them: five misses.
        read_all(&app, &cached).await;
        // One read with the job's consistency token.
        let res = app
            .http
            .get(format!("{}/api/v1/cases/CASE-000001", app.base))
            .header("x-consistency-token", done["consistencyToken"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200);
        let after = scrape(&app).await;

        let m = |s: &str| moved(&before, &after, s);
        assert_eq!(m("docket_jobs{state=\"completed\"}"), 1.0);
        assert_eq!(after["docket_jobs{state=\"running\"}"], 0.0);
        assert_eq!(after["docket_queue_items"], 0.0);
        assert_eq!(m("docket_jobs_ended_total{state=\"completed\"}"), 1.0);
        assert_eq!(m("docket_job_items_total{outcome=\"succeeded\"}"), 8.0);
        assert_eq!(m("docket_job_items_total{outcome=\"failed\"}"), 2.0);
        assert_eq!(m("docket_job_duration_seconds_count"), 1.0);
        assert_eq!(m("docket_cache_misses_total"), 10.0);
        // Five second reads, and the token read: the entry read after the job is new enough.
        assert_eq!(m("docket_cache_hits_total"), 6.0);
        assert_eq!(m("docket_cache_invalidations_total"), 5.0);
        assert_eq!(m("docket_consistency_token_reads_total"), 1.0);
        assert_eq!(
            m("docket_http_requests_total{method=\"PATCH\",route=\"/api/v1/cases/bulk-update\",status=\"200\"}"),
            1.0
        );
        assert_eq!(
            m("docket_http_requests_total{method=\"GET\",route=\"/api/v1/cases/{caseId}\",status=\"200\"}"),
            16.0
        );
        assert_eq!(
            m("docket_http_request_duration_seconds_count{method=\"GET\",route=\"/api/v1/cases/{caseId}\"}"),
            16.0
        );
        assert!(after.contains_key("docket_db_connections{state=\"idle\"}"));
        // Ids never become labels.
        assert!(after.keys().all(|k| !k.contains("CASE-0")), "an id became a label");
    }
}

backend_test! {
    async fn every_response_carries_a_request_id_echoing_a_sane_one() {
        let app = spawn_app().await;
        let get = |id: Option<&str>, path: &str| {
            let mut rb = app.http.get(format!("{}{path}", app.base));
            if let Some(id) = id {
                rb = rb.header("x-request-id", id);
            }
            rb.send()
        };
        let res = get(Some("trace-42.a:b"), "/healthz").await.unwrap();
        assert_eq!(res.headers()["x-request-id"], "trace-42.a:b");
        // A missing, oversized or strange one is replaced by a fresh id.
        for id in [None, Some("x".repeat(200).as_str()), Some("a b\"c")] {
            let res = get(id, "/api/v1/cases/NOPE").await.unwrap();
            assert_eq!(res.status().as_u16(), 404);
            let got = res.headers()["x-request-id"].to_str().unwrap().to_owned();
            assert_eq!(got.len(), 16, "{got}");
            assert!(got.bytes().all(|b| b.is_ascii_hexdigit()));
        }
        let a = get(None, "/nowhere").await.unwrap().headers()["x-request-id"].clone();
        let b = get(None, "/nowhere").await.unwrap().headers()["x-request-id"].clone();
        assert_ne!(a, b);
    }
}

/// The text of one scrape.
async fn scrape_text(app: &TestApp) -> String {
    let res = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    res.text().await.unwrap()
}

backend_test! {
    async fn requests_with_made_up_methods_are_refused_and_add_no_series_to_the_metrics() {
        let app = spawn_app().await;
        // Every normal series a scrape shows, then the size to compare with.
        scrape_text(&app).await;
        let (s, _, _) = app.raw("GET", "/api/v1/cases", None).await;
        assert_eq!(s, 200);
        let (s, _, _) = app.raw("GET", "/no/such/route/42", None).await;
        assert_eq!(s, 404);
        let before = scrape_text(&app).await.len();
        assert!(!scrape_text(&app).await.contains("/no/such/route/42"), "a raw path became a label");

        let mut answers = Vec::new();
        for i in 0..50 {
            // 4 KiB of letters, different for each request, with a marker to look for.
            let name = format!("JUNKMETHOD{i:02}{}", docket_server::domain::random_hex(2048).to_uppercase());
            let method = reqwest::Method::from_bytes(name.as_bytes()).unwrap();
            let path = ["/api/v1/cases", "/metrics", &format!("/nowhere/{i}")][i % 3].to_owned();
            let res = app
                .http
                .request(method, format!("{}{path}", app.base))
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let ct = res.headers().get("content-type").cloned();
            let body: serde_json::Value = res.json().await.unwrap_or_default();
            answers.push((path, status, ct, body));
        }

        let after = scrape_text(&app).await;
        assert!(
            after.len() < 2 * before,
            "/metrics grew from {before} to {} bytes",
            after.len()
        );
        assert!(!after.contains("JUNKMETHOD"), "a made-up method became a label");
        assert!(!after.contains("/nowhere/"), "a raw path became a label");
        assert!(after.contains("method=\"other\""), "made-up methods are counted as `other`");
        // Each was refused as a method no route takes, whatever its path.
        for (path, status, ct, body) in answers {
            assert_eq!(status, 405, "{path}: {body}");
            assert_eq!(ct.unwrap(), "application/problem+json");
            assert_eq!(body["code"], "method_not_allowed");
        }
    }
}

backend_test! {
    async fn metrics_carry_the_standard_process_figures() {
        let app = spawn_app().await;
        let m = scrape(&app).await;
        if cfg!(target_os = "linux") {
            assert!(m["process_resident_memory_bytes"] > 1_000_000.0, "{m:?}");
            assert!(m["process_open_fds"] >= 3.0);
            assert!(m["process_max_fds"] >= m["process_open_fds"]);
            assert!(m["process_cpu_seconds_total"] >= 0.0);
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
            let started = m["process_start_time_seconds"];
            assert!(started <= now + 1.0 && started > now - 86_400.0 * 365.0, "{started} vs {now}");
        }
    }
}
