//! Comments carried by bulk items and by a filter job's `set`, on both stores: exactly
//! one per succeeded item, in the item's change (one version), none for a failed item,
//! none in a dry run or a failed atomic job, kept by a revert; the feed records each.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_app};

async fn comments(app: &TestApp, case: &str) -> Vec<Value> {
    let (s, _, page) = app
        .raw("GET", &format!("/api/v1/cases/{case}/comments"), None)
        .await;
    assert_eq!(s, 200, "{page}");
    page["items"].as_array().unwrap().clone()
}

async fn run(app: &TestApp, body: Value) -> Value {
    let (s, _, job) = app
        .send_json("PATCH", "/api/v1/cases/bulk-update", &body)
        .await;
    assert_eq!(s, 200, "{job}");
    app.wait_job(job["jobId"].as_str().unwrap()).await
}

backend_test! {
    async fn each_succeeded_item_adds_its_comment_with_its_change() {
        let app = spawn_app().await;
        let a = app.create(json!({"title": "a", "status": "Open"})).await;
        let b = app.create(json!({"title": "b", "status": "Open"})).await;
        let closed = app.create(json!({"title": "c", "status": "Open"})).await;
        let note = json!({"body": "Moved for review <b>now</b>"});
        // A dry run first: it predicts the versions and adds nothing.
        let items = json!([
            {"caseId": a.case_id, "status": "In Progress", "comment": note},
            {"caseId": b.case_id, "comment": {"body": "just a note", "visibility": "public"}},
            {"caseId": closed.case_id, "status": "In Progress", "expectedVersion": 99, "comment": note},
            {"caseId": "NOPE-1", "comment": note},
        ]);
        let dry = run(&app, json!({"updates": items, "options": {"dryRun": true}})).await;
        assert_eq!((dry["succeeded"].as_u64(), dry["failed"].as_u64()), (Some(2), Some(2)), "{dry}");
        for id in [&a.case_id, &b.case_id, &closed.case_id] {
            assert!(comments(&app, id).await.is_empty(), "the dry run added a comment to {id}");
        }
        assert_eq!(app.snapshot(&a.case_id).await.0.version, a.version);

        let done = run(&app, json!(items)).await;
        assert_eq!((done["succeeded"].as_u64(), done["failed"].as_u64()), (Some(2), Some(2)), "{done}");
        let job = done["jobId"].as_str().unwrap().to_owned();
        // The change and the comment are one version.
        let after_a = app.snapshot(&a.case_id).await.0;
        assert_eq!((after_a.version, after_a.comment_count, after_a.status.as_str()), (a.version + 1, 1, "In Progress"));
        let after_b = app.snapshot(&b.case_id).await.0;
        assert_eq!((after_b.version, after_b.comment_count), (b.version + 1, 1));
        let on_a = comments(&app, &a.case_id).await;
        assert_eq!(on_a.len(), 1);
        assert_eq!((on_a[0]["body"].as_str(), on_a[0]["jobId"].as_str(), on_a[0]["visibility"].as_str()), (Some("Moved for review <b>now</b>"), Some(job.as_str()), Some("internal")));
        assert_eq!(comments(&app, &b.case_id).await[0]["visibility"], "public");
        assert!(comments(&app, &closed.case_id).await.is_empty(), "a failed item added its comment");

        // The feed: the change, then its comment, at the same version.
        let (_, _, feed) = app.raw("GET", &format!("/api/v1/changes?caseId={}", a.case_id), None).await;
        let tail: Vec<(String, u64)> = feed["items"].as_array().unwrap().iter().rev().take(2)
            .map(|c| (c["type"].as_str().unwrap().to_owned(), c["version"].as_u64().unwrap())).collect();
        assert_eq!(tail, [("comment.created".to_owned(), a.version + 1), ("case.updated".to_owned(), a.version + 1)]);
        let (_, _, feed) = app.raw("GET", &format!("/api/v1/changes?caseId={}&types=comment.created", b.case_id), None).await;
        assert_eq!(feed["items"][0]["jobId"], job.as_str());
        assert_eq!(feed["items"][0]["case"]["commentCount"], 1);

        // A revert puts the fields back, and keeps the comments.
        let (s, _, revert) = app.raw("POST", &format!("/api/v1/jobs/{job}/revert"), None).await;
        assert_eq!(s, 200, "{revert}");
        app.wait_job(revert["jobId"].as_str().unwrap()).await;
        let reverted = app.snapshot(&a.case_id).await.0;
        assert_eq!((reverted.status.as_str(), reverted.comment_count), ("Open", 1));
        assert_eq!(comments(&app, &a.case_id).await.len(), 1);
    }
}

backend_test! {
    async fn a_filter_jobs_set_comments_every_match_and_bad_comments_are_refused() {
        let app = spawn_app().await;
        for i in 0..5 {
            app.create(json!({"title": format!("vip {i}"), "tags": ["vip"]})).await;
        }
        let other = app.create(json!({"title": "plain"})).await;
        let done = run(&app, json!({"filter": {"tag": "vip"}, "set": {"priority": "High", "comment": {"body": "escalated"}}, "options": {"expectedCount": 5}})).await;
        assert_eq!(done["succeeded"], 5, "{done}");
        let (_, _, page) = app.raw("GET", "/api/v1/cases?tag=vip", None).await;
        for c in page["items"].as_array().unwrap() {
            assert_eq!(c["commentCount"], 1, "{c}");
            let id = c["caseId"].as_str().unwrap();
            assert_eq!(comments(&app, id).await[0]["body"], "escalated");
        }
        assert!(comments(&app, &other.case_id).await.is_empty());

        // A bad `set` comment is refused before the job exists; a bad item comment fails
        // its item alone.
        let (s, h, body) = app.send_json("PATCH", "/api/v1/cases/bulk-update", &json!({"filter": {"tag": "vip"}, "set": {"comment": {"body": "  "}}})).await;
        assert_problem(s, &h, &body, 422, "validation_failed");
        assert_eq!(body["errors"][0]["field"], "set.comment.body", "{body}");
        let done = run(&app, json!([{"caseId": other.case_id, "comment": {"body": "ok", "visibility": "everyone"}}])).await;
        assert_eq!(done["failed"], 1, "{done}");
        let (_, _, results) = app.raw("GET", &format!("/api/v1/jobs/{}/results", done["jobId"].as_str().unwrap()), None).await;
        assert_eq!(results["items"][0]["error"]["code"], "validation_failed", "{results}");
        assert!(comments(&app, &other.case_id).await.is_empty());

        // An atomic job with a failing item adds no comment at all.
        let done = run(&app, json!({"updates": [
            {"caseId": other.case_id, "comment": {"body": "all or nothing"}},
            {"caseId": "NOPE-1", "comment": {"body": "all or nothing"}}],
            "options": {"atomic": true}})).await;
        assert_eq!(done["status"], "failed", "{done}");
        assert!(comments(&app, &other.case_id).await.is_empty());
    }
}
