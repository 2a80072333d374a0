//! `GET /api/v1/workflow`: the configured statuses and transitions, behind `cases:read`.

use std::collections::BTreeMap;

use docket_server::domain::WorkflowConfig;
use serde_json::json;

use crate::auth::{call, make_key};
use crate::helpers::{assert_problem, spawn_app, spawn_app_with};

backend_test! {
    async fn workflow_lists_the_default_statuses_in_order_with_their_transitions() {
        let app = spawn_app().await;
        let wf = app.client.workflow().await.unwrap();
        assert_eq!(
            wf.statuses,
            ["New", "Open", "In Progress", "Under Review", "Pending", "Resolved", "Closed", "Cancelled"]
        );
        assert_eq!(wf.initial, "New");
        assert_eq!(wf.terminal, ["Closed", "Cancelled"]);
        assert_eq!(wf.transitions.len(), 8);
        assert_eq!(wf.transitions["New"], ["Open", "In Progress", "Pending", "Cancelled"]);
        assert_eq!(wf.transitions["Resolved"], ["In Progress", "Closed"]);
        assert!(wf.transitions["Closed"].is_empty());
        assert!(wf.transitions["Cancelled"].is_empty());
    }
}

backend_test! {
    async fn workflow_shows_a_configured_workflow_with_canonical_names() {
        let app = spawn_app_with(|c| {
            c.workflow = WorkflowConfig {
                initial: "draft".into(),
                statuses: vec!["Draft".into(), "Live".into(), "Gone".into()],
                terminal: vec!["GONE".into()],
                transitions: BTreeMap::from([
                    ("draft".into(), vec!["live".into(), "Gone".into(), "Draft".into()]),
                    ("Live".into(), vec!["gone".into()]),
                ]),
            };
        })
        .await;
        let (s, _, body) = app.raw("GET", "/api/v1/workflow", None).await;
        assert_eq!(s, 200);
        assert_eq!(
            body,
            json!({
                "statuses": ["Draft", "Live", "Gone"],
                "initial": "Draft",
                "terminal": ["Gone"],
                "transitions": {"Draft": ["Live", "Gone"], "Live": ["Gone"], "Gone": []}
            })
        );
        // What it says is what the server enforces.
        app.create(json!({"title": "t"})).await;
        let (s, _, b) = app
            .send_json("PATCH", "/api/v1/cases/CASE-000001", &json!({"status": "Gone"}))
            .await;
        assert_eq!(s, 200, "{b}");
        let (s, h, b) = app
            .send_json("PATCH", "/api/v1/cases/CASE-000001", &json!({"status": "Live"}))
            .await;
        assert_problem(s, &h, &b, 422, "invalid_transition");
    }
}

backend_test! {
    async fn workflow_needs_cases_read() {
        let app = spawn_app().await;
        let (_, reader) = make_key(&app, "reader", &["cases:read"]).await;
        let (_, jobs) = make_key(&app, "jobs", &["jobs:read"]).await;
        let (s, h, b) = call(&app, "GET", "/api/v1/workflow", None, None).await;
        assert_problem(s, &h, &b, 401, "unauthorized");
        let (s, h, b) = call(&app, "GET", "/api/v1/workflow", Some(&jobs), None).await;
        assert_problem(s, &h, &b, 403, "forbidden");
        let (s, _, b) = call(&app, "GET", "/api/v1/workflow", Some(&reader), None).await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["initial"], "New");
    }
}
