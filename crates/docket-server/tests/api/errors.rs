//! Every failure is problem+json with its code, and leaves the store unchanged.

use serde_json::json;

use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with};

/// Runs a failing request and checks the case it aimed at did not move.
async fn fails_without_change(
    app: &TestApp,
    method: &str,
    path: &str,
    body: Option<&str>,
    status: u16,
    code: &str,
) {
    let before = app.snapshot("CASE-000001").await;
    let count = app.count_cases().await;
    let (s, h, b) = app.raw(method, path, body).await;
    assert_problem(s, &h, &b, status, code);
    assert_eq!(
        app.snapshot("CASE-000001").await,
        before,
        "{method} {path} changed the case"
    );
    assert_eq!(
        app.count_cases().await,
        count,
        "{method} {path} changed the case count"
    );
}

async fn app_with_one_case() -> TestApp {
    let app = spawn_app().await;
    app.create(json!({"title": "t", "status": "In Progress"}))
        .await;
    app
}

backend_test! {
    async fn malformed_json_is_400_and_changes_nothing() {
        let app = app_with_one_case().await;
        fails_without_change(
            &app,
            "POST",
            "/api/v1/cases",
            Some(r#"{"title": "#),
            400,
            "malformed_json",
        )
        .await;
        fails_without_change(
            &app,
            "PATCH",
            "/api/v1/cases/CASE-000001",
            Some("not json"),
            400,
            "malformed_json",
        )
        .await;
    }
}

backend_test! {
    async fn unknown_field_is_400_naming_it_and_changes_nothing() {
        let app = app_with_one_case().await;
        let (s, h, b) = app
            .raw(
                "PATCH",
                "/api/v1/cases/CASE-000001",
                Some(r#"{"statuz":"Pending"}"#),
            )
            .await;
        assert_problem(s, &h, &b, 400, "unknown_field");
        assert_eq!(b["errors"][0]["field"], "statuz");
        fails_without_change(
            &app,
            "POST",
            "/api/v1/cases",
            Some(r#"{"title":"x","colour":"red"}"#),
            400,
            "unknown_field",
        )
        .await;
    }
}

backend_test! {
    async fn missing_case_is_404() {
        let app = app_with_one_case().await;
        let (s, h, b) = app.raw("GET", "/api/v1/cases/CASE-424242", None).await;
        assert_problem(s, &h, &b, 404, "case_not_found");
        let (s, h, b) = app.raw("GET", "/api/v1/cases/not%20an%20id", None).await;
        assert_problem(s, &h, &b, 404, "case_not_found");
        let (s, h, b) = app
            .raw("GET", "/api/v1/cases/CASE-424242/history", None)
            .await;
        assert_problem(s, &h, &b, 404, "case_not_found");
        fails_without_change(
            &app,
            "PATCH",
            "/api/v1/cases/CASE-424242",
            Some(r#"{"status":"Pending"}"#),
            404,
            "case_not_found",
        )
        .await;
        let (s, h, b) = app.raw("GET", "/api/v1/nothing-here", None).await;
        assert_problem(s, &h, &b, 404, "not_found");
    }
}

backend_test! {
    async fn duplicate_case_id_is_409_case_exists() {
        let app = app_with_one_case().await;
        fails_without_change(
            &app,
            "POST",
            "/api/v1/cases",
            Some(r#"{"caseId":"CASE-000001","title":"again"}"#),
            409,
            "case_exists",
        )
        .await;
    }
}

backend_test! {
    async fn stale_if_match_is_412_and_changes_nothing() {
        let app = app_with_one_case().await;
        let patch = docket_api::CasePatch {
            title: Some("moved on".into()),
            ..Default::default()
        };
        app.client
            .update_case("CASE-000001", &patch, None)
            .await
            .unwrap();
        let before = app.snapshot("CASE-000001").await;
        let res = app
            .http
            .patch(format!("{}/api/v1/cases/CASE-000001", app.base))
            .header("content-type", "application/json")
            .header("if-match", "\"1\"")
            .body(r#"{"status":"Pending"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 412);
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["code"], "version_conflict");
        assert_eq!(app.snapshot("CASE-000001").await, before);
        // The current ETag works.
        let ok = app
            .client
            .update_case(
                "CASE-000001",
                &docket_api::CasePatch {
                    status: Some("Pending".into()),
                    ..Default::default()
                },
                Some(2),
            )
            .await;
        assert_eq!(ok.unwrap().body.version, 3);
    }
}

backend_test! {
    async fn oversized_body_is_413_and_changes_nothing() {
        let app = spawn_app_with(|c| c.server.max_body_bytes = 4096).await;
        app.create(json!({"title": "t"})).await;
        let big = json!({"title": "x".repeat(10_000)}).to_string();
        fails_without_change(
            &app,
            "POST",
            "/api/v1/cases",
            Some(&big),
            413,
            "payload_too_large",
        )
        .await;
        let big_patch = json!({"description": "x".repeat(10_000)}).to_string();
        fails_without_change(
            &app,
            "PATCH",
            "/api/v1/cases/CASE-000001",
            Some(&big_patch),
            413,
            "payload_too_large",
        )
        .await;
    }
}

backend_test! {
    async fn forbidden_transition_is_422_invalid_transition_and_changes_nothing() {
        let app = app_with_one_case().await;
        fails_without_change(
            &app,
            "PATCH",
            "/api/v1/cases/CASE-000001",
            Some(r#"{"status":"New"}"#),
            422,
            "invalid_transition",
        )
        .await;
    }
}

backend_test! {
    async fn invalid_values_are_422_naming_each_field() {
        let app = app_with_one_case().await;
        let (s, h, b) = app
            .raw(
                "PATCH",
                "/api/v1/cases/CASE-000001",
                Some(r#"{"status":"Nowhere","priority":"urgent"}"#),
            )
            .await;
        assert_problem(s, &h, &b, 422, "validation_failed");
        let fields: Vec<&str> = b["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, ["status", "priority"]);
        fails_without_change(
            &app,
            "POST",
            "/api/v1/cases",
            Some(r#"{"description":"no title"}"#),
            422,
            "validation_failed",
        )
        .await;
        fails_without_change(
            &app,
            "POST",
            "/api/v1/cases",
            Some(r#"{"title":"x","caseId":"bad id!"}"#),
            422,
            "validation_failed",
        )
        .await;
        fails_without_change(
            &app,
            "POST",
            "/api/v1/cases",
            Some(r#"{"title":"x","status":"Closed"}"#),
            422,
            "validation_failed",
        )
        .await;
        fails_without_change(
            &app,
            "PATCH",
            "/api/v1/cases/CASE-000001",
            Some(r#"{"title":5}"#),
            422,
            "validation_failed",
        )
        .await;
    }
}

backend_test! {
    async fn bad_query_parameters_are_400() {
        let app = app_with_one_case().await;
        for q in [
            "limit=0",
            "limit=100000",
            "status=Nowhere",
            "updatedSince=yesterday",
            "cursor=zzz",
            "bogus=1",
        ] {
            let (s, h, b) = app.raw("GET", &format!("/api/v1/cases?{q}"), None).await;
            assert_eq!(s, 400, "{q}: {b}");
            assert_eq!(h.get("content-type").unwrap(), "application/problem+json");
        }
    }
}

backend_test! {
    async fn non_json_content_type_is_415() {
        let app = app_with_one_case().await;
        let res = app
            .http
            .post(format!("{}/api/v1/cases", app.base))
            .header("content-type", "text/plain")
            .body(r#"{"title":"x"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 415);
        assert_eq!(app.count_cases().await, 1);
    }
}

backend_test! {
    async fn a_json_array_where_an_object_belongs_is_422_and_changes_nothing() {
        // serde reads an array into a struct's fields in order, which would bypass the
        // field names (and "unknown fields are rejected"): every body and item that is
        // an object in the API must be one. (Key creation is allowed on this open server
        // so that the body, not the open-mode rule, is what refuses the key.)
        let app = spawn_app_with(|c| c.auth.allow_open_key_creation = true).await;
        app.create(json!({"title": "t", "status": "In Progress"})).await;
        let (s, _, _) = app
            .send_json("POST", "/api/v1/cases/CASE-000001/tasks", &json!({"title": "call"}))
            .await;
        assert_eq!(s, 201);
        let settings = app.raw("GET", "/api/v1/settings", None).await.2;
        for (method, path, body) in [
            ("POST", "/api/v1/cases", r#"["t"]"#),
            ("PATCH", "/api/v1/cases/CASE-000001", r#"["new title"]"#),
            ("POST", "/api/v1/cases/CASE-000001/tasks", r#"["t"]"#),
            ("PATCH", "/api/v1/cases/CASE-000001/tasks/TASK-000001", r#"["x","done","bob"]"#),
            ("POST", "/api/v1/cases/refresh-status", r#"[["CASE-000001"],true]"#),
            ("PATCH", "/api/v1/settings", r#"[60]"#),
            ("POST", "/api/v1/keys", r#"[null,["cases:read"]]"#),
            ("PATCH", "/api/v1/cases/bulk-update", r#"[["CASE-000001","Pending"]]"#),
            ("PATCH", "/api/v1/cases/bulk-update", r#"{"updates":[["CASE-000001","Pending"]]}"#),
            ("PATCH", "/api/v1/cases/bulk-update", r#"{"updates":[{"caseId":"CASE-000001","status":"Pending"}],"options":[true]}"#),
            ("PATCH", "/api/v1/cases/bulk-update", r#"[{"caseId":"CASE-000002","status":"Pending"},["CASE-000001","Pending"]]"#),
        ] {
            fails_without_change(&app, method, path, Some(body), 422, "validation_failed").await;
        }
        // The array item is named by its place.
        let (_, _, b) = app
            .raw("PATCH", "/api/v1/cases/bulk-update", Some(r#"{"updates":[{"caseId":"CASE-000001"},[]]}"#))
            .await;
        assert_eq!(b["errors"][0]["field"], "updates[1]", "{b}");
        assert_eq!(app.job_count().await, 0, "a refused bulk body made a job");
        assert_eq!(app.raw("GET", "/api/v1/settings", None).await.2, settings);
        let (s, _, keys) = app.raw("GET", "/api/v1/keys", None).await;
        assert_eq!(s, 200, "the server left open mode: {keys}");
        assert_eq!(keys["items"], json!([]), "a key was created");
        let (_, _, tasks) = app.raw("GET", "/api/v1/cases/CASE-000001/tasks", None).await;
        assert_eq!(tasks["items"][0]["title"], "call", "{tasks}");
        assert_eq!(tasks["items"][0]["status"], "open", "{tasks}");
    }
}
