//! Comments and internal notes on cases, on both stores: write, list (oldest first,
//! paged, by visibility), edit and delete with `If-Match`, the limits, the case's
//! `commentCount`, the change feed, and a deleted case's comments.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_app};

/// Sends `body` with `method` to `path` with `If-Match: "version"`.
async fn with_if_match(
    app: &TestApp,
    method: &str,
    path: &str,
    version: u64,
    body: Option<&Value>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut rb = app
        .http
        .request(method.parse().unwrap(), format!("{}{path}", app.base))
        .header("if-match", format!("\"{version}\""));
    if let Some(b) = body {
        rb = rb.json(b);
    }
    let res = rb.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, headers, res.json().await.unwrap_or(Value::Null))
}

backend_test! {
    async fn comments_are_written_listed_edited_and_deleted() {
        let app = spawn_app().await;
        let case = app.create(json!({"title": "printer"})).await;
        assert_eq!(case.comment_count, 0);
        let path = format!("/api/v1/cases/{}/comments", case.case_id);
        let body = "<script>alert(1)</script>\n  kept as given ";
        let (s, h, first) = app.send_json("POST", &path, &json!({"body": body})).await;
        assert_eq!(s, 201, "{first}");
        let id = first["commentId"].as_str().unwrap().to_owned();
        assert_eq!(h["location"], format!("{path}/{id}"));
        assert_eq!(h["etag"], "\"1\"");
        assert!(h.contains_key("x-consistency-token"));
        assert_eq!((first["body"].as_str(), first["visibility"].as_str()), (Some(body), Some("internal")));
        assert_eq!((first["author"].as_str(), first["version"].as_u64()), (Some("open"), Some(1)));
        assert_eq!(first["caseId"], case.case_id.as_str());
        // The case counts it, and its version moved.
        let after = app.snapshot(&case.case_id).await.0;
        assert_eq!((after.comment_count, after.version), (1, case.version + 1));

        for i in 0..4 {
            let (s, _, c) = app.send_json("POST", &path, &json!({"body": format!("reply {i}"), "visibility": "Public"})).await;
            assert_eq!((s, c["visibility"].as_str()), (201, Some("public")), "{c}");
        }
        // Oldest first, in pages.
        let (s, _, page) = app.raw("GET", &format!("{path}?limit=2"), None).await;
        assert_eq!(s, 200, "{page}");
        assert_eq!(page["items"][0]["commentId"], id.as_str());
        let cursor = page["nextCursor"].as_str().unwrap();
        let (_, _, rest) = app.raw("GET", &format!("{path}?limit=10&cursor={cursor}"), None).await;
        let bodies: Vec<&str> = rest["items"].as_array().unwrap().iter().map(|c| c["body"].as_str().unwrap()).collect();
        assert_eq!(bodies, ["reply 1", "reply 2", "reply 3"]);
        assert!(rest["nextCursor"].is_null());
        // By visibility.
        let (_, _, public) = app.raw("GET", &format!("{path}?visibility=public"), None).await;
        assert_eq!(public["items"].as_array().unwrap().len(), 4);
        let (_, _, internal) = app.raw("GET", &format!("{path}?visibility=internal"), None).await;
        assert_eq!(internal["items"].as_array().unwrap().len(), 1);

        // An edit with the version it is for; a stale one is refused and changes nothing.
        let one = format!("{path}/{id}");
        let (s, h, edited) = with_if_match(&app, "PATCH", &one, 1, Some(&json!({"body": "edited", "visibility": "public"}))).await;
        assert_eq!(s, 200, "{edited}");
        assert_eq!((edited["version"].as_u64(), edited["body"].as_str()), (Some(2), Some("edited")));
        assert_eq!(h["etag"], "\"2\"");
        // The comment at its address (the `Location` it was written with), its version as ETag.
        let (s, h, got) = app.raw("GET", &one, None).await;
        assert_eq!(s, 200, "{got}");
        assert_eq!(got, edited);
        assert_eq!(h["etag"], "\"2\"");
        let (s, h, stale) = with_if_match(&app, "PATCH", &one, 1, Some(&json!({"body": "lost"}))).await;
        assert_problem(s, &h, &stale, 412, "version_conflict");
        let (s, h, stale) = with_if_match(&app, "DELETE", &one, 1, None).await;
        assert_problem(s, &h, &stale, 412, "version_conflict");
        // An edit changes the comment, not the case.
        let count_before = app.snapshot(&case.case_id).await.0;
        assert_eq!(count_before.comment_count, 5);

        let (s, _, _) = with_if_match(&app, "DELETE", &one, 2, None).await;
        assert_eq!(s, 204);
        let (s, h, gone) = app.send_json("PATCH", &one, &json!({"body": "x"})).await;
        assert_problem(s, &h, &gone, 404, "comment_not_found");
        let (s, h, gone) = app.raw("DELETE", &one, None).await;
        assert_problem(s, &h, &gone, 404, "comment_not_found");
        let (s, h, gone) = app.raw("GET", &one, None).await;
        assert_problem(s, &h, &gone, 404, "comment_not_found");
        let now = app.snapshot(&case.case_id).await.0;
        assert_eq!((now.comment_count, now.version), (4, count_before.version + 1));
        // A comment under another case does not exist there.
        let other = app.create(json!({"title": "other"})).await;
        let (_, _, listed) = app.raw("GET", &path, None).await;
        let second = listed["items"][0]["commentId"].as_str().unwrap();
        let (s, h, b) = app.raw("DELETE", &format!("/api/v1/cases/{}/comments/{second}", other.case_id), None).await;
        assert_problem(s, &h, &b, 404, "comment_not_found");
        let (s, h, b) = app.raw("GET", &format!("/api/v1/cases/{}/comments/{second}", other.case_id), None).await;
        assert_problem(s, &h, &b, 404, "comment_not_found");
        let (s, h, b) = app.raw("GET", &format!("/api/v1/cases/NOPE-1/comments/{second}"), None).await;
        assert_problem(s, &h, &b, 404, "case_not_found");
        let (s, h, b) = app.raw("GET", "/api/v1/cases/NOPE-1/comments", None).await;
        assert_problem(s, &h, &b, 404, "case_not_found");
        let (s, h, b) = app.send_json("POST", "/api/v1/cases/NOPE-1/comments", &json!({"body": "x"})).await;
        assert_problem(s, &h, &b, 404, "case_not_found");
    }
}

backend_test! {
    async fn bad_comments_are_refused_and_change_nothing() {
        let app = spawn_app().await;
        let case = app.create(json!({"title": "printer"})).await;
        let path = format!("/api/v1/cases/{}/comments", case.case_id);
        let too_long = "x".repeat(65_537);
        for (body, status, code, field) in [
            (json!({}), 422, "validation_failed", "body"),
            (json!({"body": "   "}), 422, "validation_failed", "body"),
            (json!({"body": too_long}), 422, "validation_failed", "body"),
            (json!({"body": "a\u{0}b"}), 422, "validation_failed", "body"),
            (json!({"body": "ok", "visibility": "secret"}), 422, "validation_failed", "visibility"),
            (json!({"body": "ok", "author": "me"}), 400, "unknown_field", "author"),
        ] {
            let (s, h, b) = app.send_json("POST", &path, &body).await;
            assert_problem(s, &h, &b, status, code);
            assert_eq!(b["errors"][0]["field"], field, "{b}");
        }
        let longest = "y".repeat(65_536);
        let (s, _, c) = app.send_json("POST", &path, &json!({"body": longest})).await;
        assert_eq!(s, 201);
        let (s, h, b) = app.send_json("PATCH", &format!("{path}/{}", c["commentId"].as_str().unwrap()), &json!({"visibility": "nobody"})).await;
        assert_problem(s, &h, &b, 422, "validation_failed");
        let (s, h, b) = app.raw("GET", &format!("{path}?visibility=secret"), None).await;
        assert_problem(s, &h, &b, 400, "invalid_query");
        assert_eq!(app.snapshot(&case.case_id).await.0.comment_count, 1);
    }
}

backend_test! {
    async fn comment_changes_are_in_the_feed_with_the_case_after_them() {
        let app = spawn_app().await;
        let case = app.create(json!({"title": "printer"})).await;
        let path = format!("/api/v1/cases/{}/comments", case.case_id);
        let (_, _, c) = app.send_json("POST", &path, &json!({"body": "first"})).await;
        let id = c["commentId"].as_str().unwrap();
        app.send_json("PATCH", &format!("{path}/{id}"), &json!({"visibility": "public"})).await;
        app.raw("DELETE", &format!("{path}/{id}"), None).await;
        let (s, _, feed) = app.raw("GET", "/api/v1/changes?types=comment.created,comment.updated,comment.deleted", None).await;
        assert_eq!(s, 200, "{feed}");
        let items = feed["items"].as_array().unwrap();
        let kinds: Vec<&str> = items.iter().map(|i| i["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["comment.created", "comment.updated", "comment.deleted"]);
        for i in items {
            assert_eq!(i["commentId"], id, "{i}");
            assert_eq!(i["caseId"], case.case_id.as_str());
        }
        assert_eq!(items[0]["changes"], json!([{"field": "body", "from": null, "to": "first"}, {"field": "visibility", "from": null, "to": "internal"}]));
        assert_eq!(items[0]["case"]["commentCount"], 1);
        assert_eq!(items[1]["changes"], json!([{"field": "visibility", "from": "internal", "to": "public"}]));
        assert_eq!(items[2]["case"]["commentCount"], 0);
        assert_eq!(items[2]["changes"][0], json!({"field": "body", "from": "first", "to": null}));
    }
}

backend_test! {
    async fn a_deleted_case_takes_its_comments_with_it() {
        let app = spawn_app().await;
        let case = app.create(json!({"title": "printer", "caseId": "KEEP-1"})).await;
        let path = format!("/api/v1/cases/{}/comments", case.case_id);
        for i in 0..3 {
            app.send_json("POST", &path, &json!({"body": format!("note {i}")})).await;
        }
        let (s, _, _) = app.raw("DELETE", "/api/v1/cases/KEEP-1", None).await;
        assert_eq!(s, 204);
        let (s, h, b) = app.raw("GET", &path, None).await;
        assert_problem(s, &h, &b, 404, "case_not_found");
        // A new case under the same id starts with none.
        let again = app.create(json!({"title": "again", "caseId": "KEEP-1"})).await;
        assert_eq!(again.comment_count, 0);
        let (_, _, page) = app.raw("GET", &path, None).await;
        assert_eq!(page["items"], json!([]), "{page}");
    }
}
