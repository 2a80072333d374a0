//! Response headers an intermediary or a client relies on: `Cache-Control` on API
//! reads, `Location` on what a `POST` creates. (`Retry-After` on 503 and 429 is checked
//! where those answers are provoked: `limits.rs`, `bulk.rs`.)

use serde_json::json;

use crate::helpers::spawn_app;

backend_test! {
    async fn api_reads_are_private_no_cache_and_other_responses_keep_their_own_policy() {
        let app = spawn_app().await;
        app.create(json!({"title": "t"})).await;
        let (s, _, _) = app
            .send_json("POST", "/api/v1/cases/CASE-000001/tasks", &json!({"title": "call"}))
            .await;
        assert_eq!(s, 201);
        for path in [
            "/api/v1/cases",
            "/api/v1/cases/CASE-000001",
            "/api/v1/cases/CASE-000001/history",
            "/api/v1/cases/CASE-000001/tasks",
            "/api/v1/cases/NOPE",
            "/api/v1/jobs",
            "/api/v1/settings",
            "/api/v1/keys",
            "/api/v1/workflow",
            "/api/v1/whoami",
            "/api/v1/openapi.json",
        ] {
            for method in ["GET", "HEAD"] {
                let res = app
                    .http
                    .request(method.parse().unwrap(), format!("{}{path}", app.base))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(
                    res.headers().get("cache-control").map(|v| v.to_str().unwrap()),
                    Some("private, no-cache"),
                    "{method} {path}"
                );
            }
        }
        // The console keeps its own policy; /docs, which had none, may be revalidated.
        for (path, want) in [("/console/assets/app.js", "no-cache"), ("/docs", "no-cache")] {
            let res = app.http.get(format!("{}{path}", app.base)).send().await.unwrap();
            assert_eq!(res.headers()["cache-control"], want, "{path}");
        }
    }
}

backend_test! {
    async fn a_created_task_answers_201_with_its_location() {
        let app = spawn_app().await;
        app.create(json!({"title": "t"})).await;
        let (s, h, task) = app
            .send_json("POST", "/api/v1/cases/CASE-000001/tasks", &json!({"title": "call"}))
            .await;
        assert_eq!(s, 201, "{task}");
        assert_eq!(
            h.get("location").map(|v| v.to_str().unwrap()),
            Some(format!("/api/v1/cases/CASE-000001/tasks/{}", task["taskId"].as_str().unwrap()).as_str()),
        );
    }
}

backend_test! {
    async fn the_openapi_document_names_these_headers() {
        let app = spawn_app().await;
        let (_, _, doc) = app.raw("GET", "/api/v1/openapi.json", None).await;
        for (path, method, status, header) in [
            ("/api/v1/cases/{caseId}/tasks", "post", "201", "Location"),
            ("/api/v1/cases/{caseId}", "get", "200", "Cache-Control"),
            ("/api/v1/cases", "get", "200", "Cache-Control"),
            ("/api/v1/cases/{caseId}", "patch", "503", "Retry-After"),
            ("/api/v1/cases/bulk-update", "patch", "429", "Retry-After"),
            ("/readyz", "get", "503", "Retry-After"),
            ("/metrics", "get", "503", "Retry-After"),
        ] {
            assert!(
                doc["paths"][path][method]["responses"][status]["headers"][header].is_object(),
                "{method} {path} {status} does not name {header}"
            );
        }
        assert!(doc["paths"]["/api/v1/cases/{caseId}"]["patch"]["responses"]["200"]["headers"]["Cache-Control"].is_null());
    }
}

/// `GET path` with `Accept-Encoding: enc` (none when empty): status, `Content-Encoding`
/// and the body's size as sent.
async fn get_encoded(
    app: &crate::helpers::TestApp,
    path: &str,
    enc: &str,
) -> (u16, Option<String>, usize) {
    let mut rb = app.http.get(format!("{}{path}", app.base));
    if !enc.is_empty() {
        rb = rb.header("accept-encoding", enc);
    }
    let res = rb.send().await.unwrap();
    let status = res.status().as_u16();
    let ce = res
        .headers()
        .get("content-encoding")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, ce, res.bytes().await.unwrap().len())
}

backend_test! {
    async fn large_answers_are_compressed_when_asked_and_small_ones_are_not() {
        let app = spawn_app().await;
        app.seed(300).await;
        let page = "/api/v1/cases?limit=300";
        let (s, ce, plain) = get_encoded(&app, page, "").await;
        assert_eq!((s, ce), (200, None), "nothing asked, nothing compressed");
        assert!(plain > 20_000, "a page of 300 cases is {plain} bytes");
        for (asked, got) in [("gzip", "gzip"), ("br", "br"), ("br;q=1.0, gzip;q=0.5", "br")] {
            let (s, ce, size) = get_encoded(&app, page, asked).await;
            assert_eq!(s, 200);
            assert_eq!(ce.as_deref(), Some(got), "Accept-Encoding: {asked}");
            assert!(size * 4 < plain, "{got}: {size} bytes of {plain}");
        }
        // One case is under 1 KiB: sent as it is.
        let (s, ce, _) = get_encoded(&app, "/api/v1/cases/CASE-000001", "gzip").await;
        assert_eq!((s, ce), (200, None));
    }
}
