//! Tasks related to a case, and the cascade when a case closes.

use docket_api::{CasePatch, NewTask, PageQuery, TaskPatch};
use serde_json::json;

use crate::helpers::{assert_problem, spawn_app};

backend_test! {
    async fn tasks_are_created_listed_updated_and_counted_on_the_case() {
        let app = spawn_app().await;
        app.create(json!({"title": "t", "status": "Open"})).await;
        let t = NewTask {
            title: Some("Call back".into()),
            assignee: Some("erin".into()),
        };
        let created = app.client.create_task("CASE-000001", &t).await.unwrap();
        assert_eq!(created.status, 201);
        assert_eq!(created.body.status, "open");
        assert!(created.consistency_token.is_some());
        app.client
            .create_task(
                "CASE-000001",
                &NewTask {
                    title: Some("Docs".into()),
                    assignee: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(
            app.client
                .get_case("CASE-000001")
                .await
                .unwrap()
                .body
                .open_tasks,
            2
        );
        let done = TaskPatch {
            status: Some("done".into()),
            ..Default::default()
        };
        let updated = app
            .client
            .update_task("CASE-000001", &created.body.task_id, &done)
            .await
            .unwrap();
        assert_eq!(updated.body.status, "done");
        assert_eq!(
            app.client
                .get_case("CASE-000001")
                .await
                .unwrap()
                .body
                .open_tasks,
            1
        );
        let list = app
            .client
            .list_tasks("CASE-000001", &PageQuery::default())
            .await
            .unwrap();
        assert_eq!(list.items.len(), 2);
    }
}

backend_test! {
    async fn closing_a_case_closes_its_open_tasks() {
        let app = spawn_app().await;
        app.create(json!({"title": "t", "status": "Open"})).await;
        for title in ["a", "b", "c"] {
            app.client
                .create_task(
                    "CASE-000001",
                    &NewTask {
                        title: Some(title.into()),
                        assignee: None,
                    },
                )
                .await
                .unwrap();
        }
        let close = CasePatch {
            status: Some("Closed".into()),
            ..Default::default()
        };
        let c = app
            .client
            .update_case("CASE-000001", &close, None)
            .await
            .unwrap()
            .body;
        assert_eq!(c.open_tasks, 0);
        let (case, _, tasks) = app.snapshot("CASE-000001").await;
        assert_eq!(case.open_tasks, 0);
        assert!(tasks.iter().all(|t| t.status == "done"), "{tasks:?}");
        // No new work on a closed case.
        let (status, headers, body) = app
            .raw(
                "POST",
                "/api/v1/cases/CASE-000001/tasks",
                Some(r#"{"title":"late"}"#),
            )
            .await;
        assert_problem(status, &headers, &body, 422, "validation_failed");
    }
}

backend_test! {
    async fn task_errors_name_what_is_missing() {
        let app = spawn_app().await;
        app.create(json!({"title": "t"})).await;
        let (s, h, b) = app
            .raw("POST", "/api/v1/cases/NOPE/tasks", Some(r#"{"title":"x"}"#))
            .await;
        assert_problem(s, &h, &b, 404, "case_not_found");
        let (s, h, b) = app
            .raw(
                "PATCH",
                "/api/v1/cases/CASE-000001/tasks/TASK-999999",
                Some(r#"{"status":"done"}"#),
            )
            .await;
        assert_problem(s, &h, &b, 404, "task_not_found");
        let (s, h, b) = app
            .raw(
                "POST",
                "/api/v1/cases/CASE-000001/tasks",
                Some(r#"{"title":""}"#),
            )
            .await;
        assert_problem(s, &h, &b, 422, "validation_failed");
        let (s, h, b) = app
            .raw(
                "POST",
                "/api/v1/cases/CASE-000001/tasks",
                Some(r#"{"title":"x","due":"soon"}"#),
            )
            .await;
        assert_problem(s, &h, &b, 400, "unknown_field");
        assert!(
            app.client
                .list_tasks("CASE-000001", &PageQuery::default())
                .await
                .unwrap()
                .items
                .is_empty()
        );
    }
}

backend_test! {
    async fn the_etag_changes_with_open_tasks_and_a_current_etag_gets_304() {
        let app = spawn_app().await;
        app.create(json!({"title": "t", "status": "Open"})).await;
        let etag_of = |h: &reqwest::header::HeaderMap| {
            h.get("etag").unwrap().to_str().unwrap().to_owned()
        };
        let (s, h, b) = app.raw("GET", "/api/v1/cases/CASE-000001", None).await;
        assert_eq!(s, 200, "{b}");
        let first = etag_of(&h);
        // The copy the client holds is current: 304, no body, the same ETag.
        for tag in [first.clone(), format!("W/{first}"), format!("\"999\", {first}"), "*".into()] {
            let res = app
                .http
                .get(format!("{}/api/v1/cases/CASE-000001", app.base))
                .header("if-none-match", &tag)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status().as_u16(), 304, "If-None-Match {tag}");
            assert_eq!(etag_of(res.headers()), first);
            assert!(res.bytes().await.unwrap().is_empty());
        }
        // A task changes openTasks, so the representation and its ETag.
        let t = NewTask {
            title: Some("Call back".into()),
            assignee: None,
        };
        let task = app.client.create_task("CASE-000001", &t).await.unwrap().body;
        let res = app
            .http
            .get(format!("{}/api/v1/cases/CASE-000001", app.base))
            .header("if-none-match", &first)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200, "openTasks changed: the old ETag is stale");
        let second = etag_of(res.headers());
        assert_ne!(second, first);
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["openTasks"], 1);
        // Closing it changes them again; renaming it does not change the case.
        let path = format!("/api/v1/cases/CASE-000001/tasks/{}", task.task_id);
        let (s, _, b) = app.raw("PATCH", &path, Some(r#"{"title": "Call back today"}"#)).await;
        assert_eq!(s, 200, "{b}");
        let (_, h, _) = app.raw("GET", "/api/v1/cases/CASE-000001", None).await;
        assert_eq!(etag_of(&h), second, "a renamed task leaves the case as it was");
        let (s, _, b) = app.raw("PATCH", &path, Some(r#"{"status": "done"}"#)).await;
        assert_eq!(s, 200, "{b}");
        let (_, h, b) = app.raw("GET", "/api/v1/cases/CASE-000001", None).await;
        assert_eq!(b["openTasks"], 0);
        assert_ne!(etag_of(&h), second);
    }
}
