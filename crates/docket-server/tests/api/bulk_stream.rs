//! Bulk bodies read as they arrive: sent in small pieces without a length (chunked),
//! they make the same jobs, and a body refused for its size, a repeat or a malformed
//! line far into it leaves no job and no item behind.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with};

/// Posts `body` in pieces of `piece` bytes, with no `Content-Length`.
async fn post_in_pieces(
    app: &TestApp,
    path: &str,
    content_type: &str,
    body: &str,
    piece: usize,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> = body
        .as_bytes()
        .chunks(piece)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let res = app
        .http
        .post(format!("{}{path}", app.base))
        .header("content-type", content_type)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            pieces,
        )))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, headers, res.json().await.unwrap_or(Value::Null))
}

fn updates(n: usize) -> Vec<Value> {
    (1..=n)
        .map(|i| json!({"caseId": format!("CASE-{i:06}"), "priority": "High"}))
        .collect()
}

backend_test! {
    async fn a_bulk_update_sent_in_pieces_is_the_job_its_items_make() {
        let app = spawn_app().await;
        app.seed(3_000).await;
        let body = json!({"updates": updates(3_000), "options": {"waitForCompletion": true}});
        let (s, _, job) = post_in_pieces(&app, "/api/v1/cases/bulk-update", "application/json", &body.to_string(), 997).await;
        assert_eq!(s, 200, "{job}");
        assert_eq!((job["total"].as_u64(), job["succeeded"].as_u64()), (Some(3_000), Some(3_000)), "{job}");
        for id in ["CASE-000001", "CASE-001500", "CASE-003000"] {
            assert_eq!(app.snapshot(id).await.0.priority, "High");
        }
    }
}

backend_test! {
    async fn a_case_named_twice_far_apart_refuses_the_whole_request() {
        let app = spawn_app().await;
        app.seed(10).await;
        let mut items = updates(3_000);
        items[2_999] = json!({"caseId": "CASE-000008", "priority": "Low"});
        let (s, h, body) = post_in_pieces(&app, "/api/v1/cases/bulk-update", "application/json", &Value::Array(items).to_string(), 4_096).await;
        assert_problem(s, &h, &body, 422, "validation_failed");
        assert_eq!(body["errors"][0]["field"], "updates[2999].caseId", "{body}");
        assert_eq!(body["errors"][0]["message"], "CASE-000008 is also updates[7].caseId", "{body}");
        // The ids of a bulk delete, and the external ids of an import, the same way.
        let ids: Vec<String> = (0..2_000).map(|i| format!("D-{}", i % 1_999)).collect();
        let (s, h, body) = post_in_pieces(&app, "/api/v1/cases/bulk-delete", "application/json", &json!({"caseIds": ids}).to_string(), 512).await;
        assert_problem(s, &h, &body, 422, "validation_failed");
        assert_eq!(body["errors"][0]["field"], "caseIds[1999]", "{body}");
        let lines: String = (0..2_000).map(|i| format!("{}\n", json!({"title": "t", "externalId": format!("X-{}", i % 1_500)}))).collect();
        let (s, h, body) = post_in_pieces(&app, "/api/v1/cases/bulk-create", "application/x-ndjson", &lines, 1_000).await;
        assert_problem(s, &h, &body, 422, "validation_failed");
        assert_eq!(body["errors"][0]["field"], "cases[1500].externalId", "{body}");
        assert_eq!(body["errors"].as_array().unwrap().len(), 500, "{body}");
        assert_eq!(app.job_count().await, 0);
        assert_eq!(app.count_cases().await, 10);
    }
}

backend_test! {
    async fn a_body_past_the_size_limit_is_413_however_it_is_sent() {
        let app = spawn_app_with(|c| c.server.max_body_bytes = 4096).await;
        app.seed(10).await;
        let body = Value::Array(updates(500)).to_string();
        let (s, h, problem) = post_in_pieces(&app, "/api/v1/cases/bulk-update", "application/json", &body, 300).await;
        assert_problem(s, &h, &problem, 413, "payload_too_large");
        let lines: String = (0..500).map(|i| format!("{}\n", json!({"title": format!("case {i}")}))).collect();
        let (s, h, problem) = post_in_pieces(&app, "/api/v1/cases/bulk-create", "application/x-ndjson", &lines, 300).await;
        assert_problem(s, &h, &problem, 413, "payload_too_large");
        assert_eq!(app.job_count().await, 0);
        assert_eq!(app.count_cases().await, 10);
    }
}

backend_test! {
    async fn a_malformed_line_deep_in_an_import_names_it_and_creates_nothing() {
        let app = spawn_app().await;
        let mut lines: Vec<String> = (0..5_000).map(|i| json!({"title": format!("case {i}")}).to_string()).collect();
        lines[4_320] = "{\"title\": \"broken\"".into();
        let (s, h, body) = post_in_pieces(&app, "/api/v1/cases/bulk-create", "application/x-ndjson", &lines.join("\n"), 1_024).await;
        assert_problem(s, &h, &body, 400, "malformed_json");
        assert_eq!(body["errors"][0]["field"], "line 4321", "{body}");
        // A CSV: a quoted cell over two lines counts both, and the broken row is named.
        let mut csv = String::from("title,description\n\"two\nlines\",x\n");
        for i in 0..3_000 {
            csv.push_str(&format!("case {i},d\n"));
        }
        csv.push_str("\"late\"x,y\n");
        let (s, h, body) = post_in_pieces(&app, "/api/v1/cases/bulk-create", "text/csv", &csv, 333).await;
        assert_problem(s, &h, &body, 400, "malformed_csv");
        assert_eq!(body["errors"][0]["field"], "line 3004", "{body}");
        assert_eq!(app.job_count().await, 0);
        assert_eq!(app.count_cases().await, 0);
        // The same CSV, mended, creates every case, the two-line title whole.
        let csv = csv.replace("\"late\"x,y\n", "late,y\n");
        let (s, _, job) = post_in_pieces(&app, "/api/v1/cases/bulk-create?waitForCompletion=true", "text/csv", &csv, 333).await;
        assert_eq!(s, 200, "{job}");
        assert_eq!(job["succeeded"].as_u64(), Some(3_002), "{job}");
        let (_, _, page) = app.raw("GET", "/api/v1/cases?q=lines&limit=5", None).await;
        assert_eq!(page["items"][0]["title"], "two\nlines", "{page}");
    }
}
