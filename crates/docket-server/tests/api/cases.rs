//! Success paths of the case endpoints.

use docket_api::{CasePatch, CaseQuery, PageQuery};
use serde_json::json;

use crate::helpers::spawn_app;

backend_test! {
    async fn created_case_gets_a_generated_id_location_etag_and_token() {
        let app = spawn_app().await;
        let new = docket_api::NewCase {
            title: Some("Printer on fire".into()),
            ..Default::default()
        };
        let reply = app.client.create_case(&new).await.unwrap();
        assert_eq!(reply.status, 201);
        let c = reply.body;
        assert_eq!(c.case_id, "CASE-000001");
        assert_eq!(c.status, "New");
        assert_eq!(c.priority, "Medium");
        assert_eq!(c.version, 1);
        assert_eq!(reply.location.as_deref(), Some("/api/v1/cases/CASE-000001"));
        assert_eq!(reply.etag.as_deref(), Some("1"));
        assert!(reply.consistency_token.is_some());
        assert!(
            c.created_at.ends_with('Z') && c.created_at.len() == 24,
            "{}",
            c.created_at
        );
        let second = app.create(json!({"title": "second"})).await;
        assert_eq!(second.case_id, "CASE-000002");
    }
}

backend_test! {
    async fn case_created_with_every_field_reads_back_canonically() {
        let app = spawn_app().await;
        let c = app
            .create(json!({
                "caseId": "CLAIM-7", "title": "Hail damage", "description": "Roof",
                "status": "in progress", "statusReason": "assessor booked", "priority": "high",
                "assignee": "alice", "tags": ["claims", "vip"], "fields": {"policy": "P-1", "amount": 1200}
            }))
            .await;
        let read = app.client.get_case("CLAIM-7").await.unwrap();
        assert_eq!(read.body, c);
        assert_eq!(read.etag.as_deref(), Some("1"));
        assert_eq!(c.status, "In Progress");
        assert_eq!(c.priority, "High");
        assert_eq!(c.tags, ["claims", "vip"]);
        assert_eq!(c.fields["amount"], json!(1200));
        // A client-chosen id in the generated form keeps the generator ahead of it.
        app.create(json!({"caseId": "CASE-000005", "title": "imported"}))
            .await;
        assert_eq!(
            app.create(json!({"title": "next"})).await.case_id,
            "CASE-000006"
        );
    }
}

backend_test! {
    async fn patch_applies_synchronously_and_records_history() {
        let app = spawn_app().await;
        app.create(json!({"title": "t", "status": "In Progress"}))
            .await;
        let patch = CasePatch {
            status: Some("Under Review".into()),
            assignee: Some(Some("bob".into())),
            ..Default::default()
        };
        let reply = app
            .client
            .update_case("CASE-000001", &patch, Some(1))
            .await
            .unwrap();
        assert_eq!(reply.body.status, "Under Review");
        assert_eq!(reply.body.assignee.as_deref(), Some("bob"));
        assert_eq!(reply.body.version, 2);
        assert_eq!(reply.etag.as_deref(), Some("2"));
        assert!(reply.consistency_token.is_some());
        // The very next read sees it.
        assert_eq!(
            app.client
                .get_case("CASE-000001")
                .await
                .unwrap()
                .body
                .status,
            "Under Review"
        );
        let history = app
            .client
            .history("CASE-000001", &PageQuery::default())
            .await
            .unwrap();
        let fields: Vec<&str> = history.items.iter().map(|h| h.field.as_str()).collect();
        assert!(
            fields.contains(&"status") && fields.contains(&"assignee"),
            "{fields:?}"
        );
        let status = history.items.iter().find(|h| h.field == "status").unwrap();
        assert_eq!(
            (status.from.clone(), status.to.clone()),
            (json!("In Progress"), json!("Under Review"))
        );
        // Clearing a nullable field.
        let clear = CasePatch {
            assignee: Some(None),
            ..Default::default()
        };
        assert_eq!(
            app.client
                .update_case("CASE-000001", &clear, None)
                .await
                .unwrap()
                .body
                .assignee,
            None
        );
    }
}

backend_test! {
    async fn patch_that_changes_nothing_keeps_the_version() {
        let app = spawn_app().await;
        app.create(json!({"title": "same", "priority": "Low"}))
            .await;
        let patch = CasePatch {
            priority: Some("low".into()),
            title: Some("same".into()),
            ..Default::default()
        };
        let c = app
            .client
            .update_case("CASE-000001", &patch, None)
            .await
            .unwrap()
            .body;
        assert_eq!(c.version, 1);
        assert!(
            app.client
                .history("CASE-000001", &PageQuery::default())
                .await
                .unwrap()
                .items
                .is_empty()
        );
    }
}

backend_test! {
    async fn history_is_newest_first_and_pages() {
        let app = spawn_app().await;
        app.create(json!({"title": "t0"})).await;
        for i in 1..=5 {
            let p = CasePatch {
                title: Some(format!("t{i}")),
                ..Default::default()
            };
            app.client
                .update_case("CASE-000001", &p, None)
                .await
                .unwrap();
        }
        let first = app
            .client
            .history(
                "CASE-000001",
                &PageQuery {
                    limit: Some(2),
                    cursor: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(
            first.items.iter().map(|h| h.to.clone()).collect::<Vec<_>>(),
            [json!("t5"), json!("t4")]
        );
        let mut all = first.items.clone();
        let mut cursor = first.next_cursor;
        while let Some(c) = cursor {
            let p = app
                .client
                .history(
                    "CASE-000001",
                    &PageQuery {
                        limit: Some(2),
                        cursor: Some(c),
                    },
                )
                .await
                .unwrap();
            all.extend(p.items);
            cursor = p.next_cursor;
        }
        assert_eq!(all.len(), 5);
        assert_eq!(all[4].to, json!("t1"));
    }
}

backend_test! {
    async fn list_filters_by_status_assignee_tag_and_time_and_pages_with_cursors() {
        let app = spawn_app().await;
        for i in 0..25 {
            let status = if i % 2 == 0 { "Open" } else { "Pending" };
            let assignee = if i % 5 == 0 { "alice" } else { "bob" };
            let tags = if i % 3 == 0 {
                json!(["vip"])
            } else {
                json!([])
            };
            app.create(
                json!({"title": format!("c{i}"), "status": status, "assignee": assignee, "tags": tags}),
            )
            .await;
        }
        let q = |f: fn(&mut CaseQuery)| {
            let mut q = CaseQuery {
                limit: Some(100),
                ..Default::default()
            };
            f(&mut q);
            q
        };
        let open = app
            .client
            .list_cases(&q(|q| q.status = Some("open".into())))
            .await
            .unwrap();
        assert_eq!(open.items.len(), 13);
        assert!(open.items.iter().all(|c| c.status == "Open"));
        let alice = app
            .client
            .list_cases(&q(|q| q.assignee = Some("alice".into())))
            .await
            .unwrap();
        assert_eq!(alice.items.len(), 5);
        let vip = app
            .client
            .list_cases(&q(|q| q.tag = Some("vip".into())))
            .await
            .unwrap();
        assert_eq!(vip.items.len(), 9);
        let future = app
            .client
            .list_cases(&q(|q| {
                q.updated_since = Some("2999-01-01T00:00:00Z".into())
            }))
            .await
            .unwrap();
        assert!(future.items.is_empty());
        let past = app
            .client
            .list_cases(&q(|q| {
                q.updated_since = Some("2000-01-01T00:00:00Z".into())
            }))
            .await
            .unwrap();
        assert_eq!(past.items.len(), 25);

        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = app
                .client
                .list_cases(&CaseQuery {
                    limit: Some(10),
                    cursor,
                    ..Default::default()
                })
                .await
                .unwrap();
            assert!(page.items.len() <= 10);
            seen.extend(page.items.into_iter().map(|c| c.case_id));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(seen.len(), 25);
        assert_eq!(sorted, seen);
    }
}

backend_test! {
    async fn health_and_readiness_answer() {
        let app = spawn_app().await;
        assert_eq!(app.client.healthz().await.unwrap().status, "ok");
        let ready = app.client.readyz().await.unwrap();
        assert_eq!(ready.status, "ready");
        assert!(ready.schema_version.unwrap() >= 1);
    }
}
