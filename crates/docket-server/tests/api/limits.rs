//! Every limit answers with its error and stores nothing: string lengths and counts,
//! ids, page sizes and filters, bodies, the request timeout, the idle, header and body
//! timeouts, and the connection limits, overall and per client address. (Items per
//! request, queued items and body size for bulk updates are
//! in `bulk.rs`; refresh-status's id count in `consistency.rs`.)

use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with};

/// Sends a write that must fail 422 naming `field`, and checks nothing changed.
async fn refused(app: &TestApp, method: &str, path: &str, body: &Value, field: &str) {
    let before = app.snapshot("CASE-000001").await;
    let count = app.count_cases().await;
    let (s, h, b) = app.send_json(method, path, body).await;
    assert_problem(s, &h, &b, 422, "validation_failed");
    assert_eq!(b["errors"][0]["field"], field, "{method} {path}: {b}");
    assert_eq!(
        app.snapshot("CASE-000001").await,
        before,
        "{method} {path} changed the case"
    );
    assert_eq!(
        app.count_cases().await,
        count,
        "{method} {path} stored a case"
    );
}

fn many_fields(n: usize, value_len: usize) -> Value {
    let mut m = Map::new();
    for i in 0..n {
        m.insert(format!("f{i}"), json!("v".repeat(value_len)));
    }
    Value::Object(m)
}

backend_test! {
    async fn strings_and_lists_over_their_limits_are_422_naming_the_field_and_store_nothing() {
        let app = spawn_app().await;
        app.create(json!({"title": "t"})).await;
        let long = |n: usize| "x".repeat(n);
        let cases: Vec<(Value, &str)> = vec![
            (json!({"title": long(501)}), "title"),
            (json!({"title": ""}), "title"),
            (json!({"description": long(20_001)}), "description"),
            (json!({"statusReason": long(1_001)}), "statusReason"),
            (json!({"assignee": long(201)}), "assignee"),
            (json!({"tags": (0..51).map(|i| format!("t{i}")).collect::<Vec<_>>()}), "tags"),
            (json!({"tags": [long(65)]}), "tags"),
            (json!({"fields": many_fields(101, 1)}), "fields"),
            (json!({"fields": {long(65): 1}}), "fields"),
            (json!({"fields": many_fields(40, 1000)}), "fields"),
        ];
        for (patch, field) in &cases {
            refused(&app, "PATCH", "/api/v1/cases/CASE-000001", patch, field).await;
            let mut new = patch.clone();
            if new.get("title").is_none() {
                new["title"] = json!("t");
            }
            refused(&app, "POST", "/api/v1/cases", &new, field).await;
        }
        refused(&app, "POST", "/api/v1/cases", &json!({"title": "t", "caseId": long(65)}), "caseId").await;
        // Tasks: a title over 500 characters, an assignee over 200; no task is made.
        for (body, field) in [
            (json!({"title": long(501)}), "title"),
            (json!({"title": "t", "assignee": long(201)}), "assignee"),
        ] {
            let (s, h, b) = app.send_json("POST", "/api/v1/cases/CASE-000001/tasks", &body).await;
            assert_problem(s, &h, &b, 422, "validation_failed");
            assert_eq!(b["errors"][0]["field"], field, "{b}");
        }
        assert!(app.snapshot("CASE-000001").await.2.is_empty(), "a task was stored");
        // Ids over 64 characters name nothing.
        let (s, h, b) = app.raw("GET", &format!("/api/v1/cases/{}", long(65)), None).await;
        assert_problem(s, &h, &b, 404, "case_not_found");
        assert!(b["detail"].as_str().unwrap().len() < 120, "the whole id was echoed: {b}");
        let (s, h, b) = app.raw("GET", &format!("/api/v1/jobs/job-{}", long(200)), None).await;
        assert_problem(s, &h, &b, 404, "job_not_found");
        let (s, h, b) = app.raw("GET", "/api/v1/jobs/job%20x/status", None).await;
        assert_problem(s, &h, &b, 404, "job_not_found");
        // A bulk request's Idempotency-Key: at most 255 characters; no job is made.
        let res = app
            .http
            .patch(format!("{}/api/v1/cases/bulk-update", app.base))
            .header("content-type", "application/json")
            .header("idempotency-key", long(256))
            .body(r#"[{"caseId":"CASE-000001","status":"Open"}]"#)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 400);
        assert_eq!(app.job_count().await, 0);
    }
}

backend_test! {
    async fn page_sizes_and_filters_over_their_limits_are_400() {
        let app = spawn_app_with(|c| c.limits.max_page_size = 100).await;
        app.create(json!({"title": "t"})).await;
        for path in [
            "/api/v1/cases?limit=101",
            "/api/v1/cases?limit=0",
            "/api/v1/cases/CASE-000001/history?limit=101",
            "/api/v1/cases/CASE-000001/tasks?limit=101",
            "/api/v1/jobs?limit=101",
        ] {
            let (s, h, b) = app.raw("GET", path, None).await;
            assert_problem(s, &h, &b, 400, "invalid_query");
            assert_eq!(b["errors"][0]["field"], "limit", "{path}");
        }
        let (s, _, b) = app.raw("GET", "/api/v1/cases?limit=100", None).await;
        assert_eq!(s, 200, "{b}");
        for (param, n) in [("assignee", 201), ("tag", 65)] {
            let (s, h, b) = app
                .raw("GET", &format!("/api/v1/cases?{param}={}", "a".repeat(n)), None)
                .await;
            assert_problem(s, &h, &b, 400, "invalid_query");
            assert_eq!(b["errors"][0]["field"], param);
        }
    }
}

backend_test! {
    async fn a_bulk_body_over_the_size_limit_is_413_and_makes_no_job() {
        let app = spawn_app_with(|c| c.server.max_body_bytes = 4096).await;
        app.seed(1).await;
        let items: Vec<Value> = (0..200)
            .map(|_| json!({"caseId": "CASE-000001", "statusReason": "x".repeat(40)}))
            .collect();
        let (s, h, b) = app.send_json("PATCH", "/api/v1/cases/bulk-update", &json!(items)).await;
        assert_problem(s, &h, &b, 413, "payload_too_large");
        assert_eq!(app.job_count().await, 0);
    }
}

backend_test! {
    async fn a_request_running_past_the_request_timeout_is_503_timeout_with_retry_after() {
        use docket_server::domain::Timestamp;
        let dir = tempfile::tempdir().unwrap();
        let mut config = docket_server::config::Config::default();
        config.server.bind = "127.0.0.1:0".into();
        config.server.request_timeout_seconds = 1;
        config.database.url = crate::helpers::fresh_database_url(dir.path());
        let server = docket_server::Server::build(config).await.unwrap();
        let state = server.state().clone();
        docket_server::demo::seed(state.engine.store.as_ref(), &state.workflow, 2, 100).await.unwrap();
        // A job that someone else holds for a minute, before this server's workers start:
        // it cannot end while a long-poll waits for it.
        let now = Timestamp::now();
        let job = docket_server::store::NewJob {
            id: docket_server::domain::new_job_id(),
            items: (1..=2)
                .map(|i| {
                    let id = format!("CASE-{i:06}");
                    let item = json!({"caseId": id, "status": "Open"}).to_string();
                    (id, item)
                })
                .collect(),
            kind: Default::default(),
            by_filter: None,
            template: None,
            dry_run: false,
            revert_of: None,
            upsert_by: None,
            atomic: false,
            callback_url: None,
            parent_id: None,
            idempotency: None,
            actor: "test".into(),
            created_at: now,
        };
        let id = job.id.clone();
        let limits = docket_server::store::SubmitLimits {
            max_queued_items: 100,
            idempotency_since: Timestamp(0),
        };
        state.engine.store.submit_job(job, limits).await.unwrap();
        let claim = docket_server::store::Claim {
            owner: "elsewhere".into(),
            now,
            lease_until: Timestamp(now.0 + 60_000),
            chunk_size: 1,
            group: std::time::Duration::ZERO,
            finish: docket_server::store::FinishDrained::Never,
            before_commit: None,
            clock: std::sync::Arc::new(Timestamp::now),
        };
        state.engine.store.run_chunk(&id, claim).await.unwrap();
        let base = format!("http://{}", server.local_addr().unwrap());
        tokio::spawn(server.run(std::future::pending()));
        let started = Instant::now();
        let res = reqwest::get(format!("{base}/api/v1/jobs/{id}/status?waitSeconds=10"))
            .await
            .unwrap();
        let (s, h) = (res.status().as_u16(), res.headers().clone());
        let b: Value = res.json().await.unwrap();
        assert_problem(s, &h, &b, 503, "timeout");
        assert!(h.get("retry-after").is_some(), "a 503 says when to retry");
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        // The job is still there, one item applied, untouched by the timed-out request.
        let st: Value = reqwest::get(format!("{base}/api/v1/jobs/{id}/status")).await.unwrap().json().await.unwrap();
        assert_eq!((st["status"].as_str(), st["processed"].as_u64()), (Some("running"), Some(1)), "{st}");
    }
}

/// Reads until the server closes the connection; how long that took.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((started + limit).into(), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("the connection was still open after {limit:?}"),
        }
    }
}

backend_test! {
    async fn idle_and_slow_connections_are_closed_after_the_idle_timeout() {
        let app = spawn_app_with(|c| c.server.idle_timeout_seconds = 1).await;
        let addr = app.base.trim_start_matches("http://").to_owned();
        // Connected, never sends anything.
        let mut silent = TcpStream::connect(&addr).await.unwrap();
        let took = closed_within(&mut silent, Duration::from_secs(5)).await;
        assert!(took >= Duration::from_millis(900), "closed too early: {took:?}");
        // Sends its headers a byte at a time, never finishing.
        let mut slow = TcpStream::connect(&addr).await.unwrap();
        slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        let trickle = async {
            for b in b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
                if slow.write_all(&[*b]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), trickle).await.unwrap();
        closed_within(&mut slow, Duration::from_secs(5)).await;
        // Answered, then idle on keep-alive: closed too.
        let mut kept = TcpStream::connect(&addr).await.unwrap();
        kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 1024];
        let n = kept.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        closed_within(&mut kept, Duration::from_secs(5)).await;
    }
}

backend_test! {
    async fn past_the_connection_limit_a_connection_waits_until_another_closes() {
        let app = spawn_app_with(|c| c.server.max_connections = 2).await;
        let addr = app.base.trim_start_matches("http://").to_owned();
        let first = TcpStream::connect(&addr).await.unwrap();
        let _second = TcpStream::connect(&addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut third = TcpStream::connect(&addr).await.unwrap();
        third.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 1024];
        let early = tokio::time::timeout(Duration::from_millis(500), third.read(&mut buf)).await;
        assert!(early.is_err(), "a third connection was served past the limit of two");
        drop(first);
        let n = tokio::time::timeout(Duration::from_secs(5), third.read(&mut buf))
            .await
            .expect("the waiting connection was not served once a slot was free")
            .unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    }
}

/// `n` custom fields named `{prefix}0`, `{prefix}1`, ... with values of `len` characters.
fn fields_named(prefix: &str, n: usize, len: usize) -> Value {
    Value::Object(
        (0..n)
            .map(|i| (format!("{prefix}{i}"), json!("v".repeat(len))))
            .collect(),
    )
}

backend_test! {
    async fn custom_field_limits_hold_on_the_merged_case_for_patches_and_bulk_items() {
        let app = spawn_app().await;
        app.create(json!({"title": "t", "fields": fields_named("a", 60, 1)})).await;
        let path = "/api/v1/cases/CASE-000001";
        // 60 + 41 keys: each patch is under 100, the case would not be.
        refused(&app, "PATCH", path, &json!({"fields": fields_named("b", 41, 1)}), "fields").await;
        let (s, _, b) = app.send_json("PATCH", path, &json!({"fields": fields_named("b", 40, 1)})).await;
        assert_eq!(s, 200, "{b}");
        refused(&app, "PATCH", path, &json!({"fields": {"c0": 1}}), "fields").await;
        // At the limit, a key may still be replaced, or removed to make room for another.
        let (s, _, b) = app.send_json("PATCH", path, &json!({"fields": {"a0": "w", "a1": null, "c0": 1}})).await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["fields"].as_object().unwrap().len(), 100);
        // Size: two 20,000-character values pass one at a time, not together.
        let (s, _, b) = app.send_json("PATCH", path, &json!({"fields": {"a2": "x".repeat(20_000)}})).await;
        assert_eq!(s, 200, "{b}");
        refused(&app, "PATCH", path, &json!({"fields": {"a3": "x".repeat(20_000)}}), "fields").await;
        // A bulk item that would take the case over a limit fails alone, changing nothing.
        app.create(json!({"title": "other"})).await;
        let before = app.snapshot("CASE-000001").await;
        let body = json!({"updates": [
            {"caseId": "CASE-000001", "fields": {"c1": 1}},
            {"caseId": "CASE-000002", "fields": {"c1": 1}},
        ], "options": {"waitForCompletion": true}});
        let (s, _, job) = app.send_json("PATCH", "/api/v1/cases/bulk-update", &body).await;
        assert_eq!(s, 200, "{job}");
        assert_eq!((job["succeeded"].as_u64(), job["failed"].as_u64()), (Some(1), Some(1)), "{job}");
        assert_eq!(job["results"][0]["error"]["code"], "validation_failed", "{job}");
        assert_eq!(app.snapshot("CASE-000001").await, before, "the failed item changed the case");
        assert_eq!(app.client.get_case("CASE-000002").await.unwrap().body.fields["c1"], 1);
    }
}

/// A connection to `addr` from the local address `from` (any of 127.0.0.0/8: Linux
/// routes them all to the loopback interface), so a test can be two clients.
async fn connect_from(from: &str, addr: &str) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    socket.connect(addr.parse().unwrap()).await.unwrap()
}

/// Sends a request head and reads the answer's status line.
async fn status_line(stream: &mut TcpStream, head: &[u8]) -> String {
    stream.write_all(head).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = stream.read(&mut buf).await.unwrap();
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

backend_test! {
    async fn a_slow_client_holding_its_share_of_connections_does_not_starve_another_client() {
        let app = spawn_app_with(|c| {
            c.server.max_connections = 8;
            c.server.max_connections_per_peer = 4;
            // Long enough that the header timeout is not what saves the other client.
            c.server.header_timeout_seconds = 30;
        })
        .await;
        let addr = app.base.trim_start_matches("http://").to_owned();
        // The slow client: twenty connections, each with half a request head.
        let mut slow = Vec::new();
        for _ in 0..20 {
            let mut s = connect_from("127.0.0.2", &addr).await;
            let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await;
            slow.push(s);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        // The fifth and later were refused at once with a 503, not left waiting.
        let mut buf = [0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(2), slow[19].read(&mut buf))
            .await
            .expect("a connection past the peer's limit was left waiting")
            .unwrap_or(0);
        let refused = String::from_utf8_lossy(&buf[..n]);
        assert!(n == 0 || refused.starts_with("HTTP/1.1 503"), "{refused}");
        // Another client is answered at once, several times over.
        for _ in 0..3 {
            let started = Instant::now();
            let mut other = connect_from("127.0.0.1", &addr).await;
            let line = tokio::time::timeout(
                Duration::from_secs(5),
                status_line(&mut other, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
            )
            .await
            .expect("another client was starved by the slow one");
            assert!(line.starts_with("HTTP/1.1 200"), "{line}");
            assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
        }
        drop(slow);
    }
}

backend_test! {
    async fn a_connection_sending_half_a_request_head_is_closed_after_the_header_timeout() {
        // The idle timeout stays long: the header timeout alone closes it.
        let app = spawn_app_with(|c| c.server.header_timeout_seconds = 1).await;
        let addr = app.base.trim_start_matches("http://").to_owned();
        let mut half = TcpStream::connect(&addr).await.unwrap();
        half.write_all(b"POST /api/v1/cases HTTP/1.1\r\nHost: x\r\nContent-Ty").await.unwrap();
        let took = closed_within(&mut half, Duration::from_secs(10)).await;
        assert!(took >= Duration::from_millis(800), "closed too early: {took:?}");
        assert!(took < Duration::from_secs(4), "closed after {took:?}, not the header timeout");
    }
}

backend_test! {
    async fn a_keep_alive_connection_idle_past_the_header_timeout_is_still_served() {
        // A pooled client connection reused after a pause longer than the header timeout
        // (but well within the idle timeout) must be answered, not closed under it.
        let app = spawn_app_with(|c| c.server.header_timeout_seconds = 1).await;
        let addr = app.base.trim_start_matches("http://").to_owned();
        let mut kept = TcpStream::connect(&addr).await.unwrap();
        let head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
        assert!(status_line(&mut kept, head).await.starts_with("HTTP/1.1 200"));
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        let line = tokio::time::timeout(Duration::from_secs(5), status_line(&mut kept, head))
            .await
            .expect("no answer on the reused connection");
        assert!(line.starts_with("HTTP/1.1 200"), "the idle connection was closed: {line:?}");
        // Its next head, once begun, still has only the header timeout to arrive.
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        kept.write_all(b"GET /healthz HTTP/1.1\r\nHo").await.unwrap();
        let took = closed_within(&mut kept, Duration::from_secs(10)).await;
        assert!(took >= Duration::from_millis(800), "closed too early: {took:?}");
        assert!(took < Duration::from_secs(4), "closed after {took:?}, not the header timeout");
    }
}

/// Sends `head` then trickles `body` a byte every 200 ms; the answer (if any) and when
/// the connection ended.
async fn trickle_body(addr: &str, head: &str, body: &[u8]) -> (String, Duration) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let (mut rd, mut wr) = s.split();
    let writing = async {
        for b in body {
            if wr.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        std::future::pending::<()>().await;
    };
    let reading = async {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => return out,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    };
    let answer = tokio::select! {
        out = reading => out,
        () = writing => unreachable!(),
        () = tokio::time::sleep(Duration::from_secs(15)) => panic!("the trickled body was not cut"),
    };
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    )
}

backend_test! {
    async fn a_body_trickled_byte_by_byte_is_cut_after_the_body_timeout() {
        let app = spawn_app_with(|c| c.server.body_timeout_seconds = 2).await;
        let addr = app.base.trim_start_matches("http://").to_owned();
        let json = format!(r#"{{"title": "{}"}}"#, "x".repeat(100));
        let form = format!("key={}", "k".repeat(100));
        for (head, body) in [
            (
                format!("POST /api/v1/cases HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", json.len()),
                json.as_bytes(),
            ),
            (
                format!("POST /console/sign-in HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n", form.len()),
                form.as_bytes(),
            ),
        ] {
            let (answer, took) = trickle_body(&addr, &head, body).await;
            assert!(took >= Duration::from_millis(1800), "cut too early: {took:?}: {answer}");
            assert!(took < Duration::from_secs(6), "cut after {took:?}, not the body timeout");
            assert!(answer.starts_with("HTTP/1.1 408"), "{head}: {answer}");
            assert!(answer.contains("\"code\":\"timeout\""), "{answer}");
        }
        assert_eq!(app.count_cases().await, 0);
        // A body sent at once is unaffected.
        let (s, _, b) = app.send_json("POST", "/api/v1/cases", &json!({"title": "t"})).await;
        assert_eq!(s, 201, "{b}");
    }
}
