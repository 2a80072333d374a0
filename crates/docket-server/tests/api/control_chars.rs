//! Control characters (a NUL above all) in query parameters and path ids: neither store
//! can hold a NUL in text (PostgreSQL refuses it with an error that used to become a
//! 500), so every route answers a 4xx problem before a store sees one.

use serde_json::json;

use crate::helpers::{assert_problem, spawn_app};

/// Values that no id and no query value can hold.
const BAD: &[&str] = &["%00", "ab%00cd", "JOB-1%01", "x%7F", "%1F"];

backend_test! {
    async fn a_control_character_in_any_query_parameter_or_path_id_is_a_4xx_never_a_500() {
        let app = spawn_app().await;
        app.seed(3).await;
        let (s, _, accepted) = app
            .send_json(
                "PATCH",
                "/api/v1/cases/bulk-update",
                &json!([{"caseId": "CASE-000001", "priority": "Low"}]),
            )
            .await;
        assert_eq!(s, 200, "{accepted}");
        let job = accepted["jobId"].as_str().unwrap().to_owned();
        app.wait_job(&job).await;

        // Path ids: no id holds a control character, so the path names nothing (404).
        let paths = [
            ("GET", "/api/v1/cases/{}"),
            ("GET", "/api/v1/cases/{}/history"),
            ("GET", "/api/v1/cases/{}/tasks"),
            ("GET", "/api/v1/cases/{}/comments"),
            ("GET", "/api/v1/jobs/{}"),
            ("GET", "/api/v1/jobs/{}/status"),
            ("GET", "/api/v1/jobs/{}/results"),
            ("GET", "/api/v1/jobs/{}/events"),
            ("GET", "/api/v1/jobs/{}/callbacks"),
            ("POST", "/api/v1/jobs/{}/cancel"),
            ("POST", "/api/v1/jobs/{}/retry-failed"),
            ("POST", "/api/v1/jobs/{}/revert"),
            ("POST", "/api/v1/jobs/{}/callbacks/redeliver"),
            ("DELETE", "/api/v1/jobs/{}"),
            ("DELETE", "/api/v1/keys/{}"),
        ];
        // Every wrong answer, so that one run lists them all.
        let mut wrong = Vec::new();
        for (method, template) in paths {
            for bad in BAD {
                let path = template.replace("{}", bad);
                let (s, h, b) = app.raw(method, &path, None).await;
                if s != 404 || h["content-type"] != "application/problem+json" {
                    wrong.push(format!("{method} {path}: {s} {b}"));
                }
            }
        }
        // A task id (the case exists, the task id cannot).
        for bad in BAD {
            let path = format!("/api/v1/cases/CASE-000001/tasks/{bad}");
            let (s, _, b) = app.raw("PATCH", &path, Some(r#"{"status":"done"}"#)).await;
            if s != 404 {
                wrong.push(format!("PATCH {path}: {s} {b}"));
            }
        }

        // A comment id (the case exists, the comment id cannot).
        for bad in BAD {
            let path = format!("/api/v1/cases/CASE-000001/comments/{bad}");
            for method in ["GET", "DELETE"] {
                let (s, _, b) = app.raw(method, &path, None).await;
                if s != 404 {
                    wrong.push(format!("{method} {path}: {s} {b}"));
                }
            }
        }

        // Query parameters: 400 invalid_query naming the parameter.
        let results = format!("/api/v1/jobs/{job}/results");
        let status = format!("/api/v1/jobs/{job}/status");
        let queries = [
            ("/api/v1/cases", "status"),
            ("/api/v1/cases", "assignee"),
            ("/api/v1/cases", "tag"),
            ("/api/v1/cases", "q"),
            ("/api/v1/cases", "updatedSince"),
            ("/api/v1/cases", "sort"),
            ("/api/v1/cases", "cursor"),
            ("/api/v1/cases/CASE-000001/history", "cursor"),
            ("/api/v1/cases/CASE-000001/tasks", "cursor"),
            ("/api/v1/cases/CASE-000001/comments", "cursor"),
            ("/api/v1/cases/CASE-000001/comments", "visibility"),
            ("/api/v1/jobs", "status"),
            ("/api/v1/jobs", "cursor"),
            (results.as_str(), "outcome"),
            (results.as_str(), "cursor"),
            (status.as_str(), "waitSeconds"),
        ];
        for (route, param) in queries {
            for bad in BAD {
                let path = format!("{route}?{param}={bad}");
                let (s, h, b) = app.raw("GET", &path, None).await;
                if s != 400 || b["code"] != "invalid_query" || b["errors"][0]["field"] != param {
                    wrong.push(format!("GET {path}: {s} {b}"));
                } else {
                    assert_problem(s, &h, &b, 400, "invalid_query");
                }
            }
        }
        assert!(wrong.is_empty(), "{} wrong answers:\n{}", wrong.len(), wrong.join("\n"));
    }
}
