//! `externalId` on cases: set on create and PATCH, unique when set, a list and bulk
//! filter, in history and in the change feed; on both stores.

use serde_json::json;

use crate::helpers::{assert_problem, spawn_app};

backend_test! {
    async fn an_external_id_is_unique_settable_filterable_and_recorded() {
        let app = spawn_app().await;
        let (s, _, a) = app.send_json("POST", "/api/v1/cases", &json!({"title": "a", "externalId": "SF-0001 x"})).await;
        assert_eq!(s, 201, "{a}");
        assert_eq!(a["externalId"], "SF-0001 x");
        let (s, _, b) = app.send_json("POST", "/api/v1/cases", &json!({"title": "b"})).await;
        assert_eq!(s, 201);
        assert!(b["externalId"].is_null(), "{b}");
        let b_id = b["caseId"].as_str().unwrap();
        // Taken, on create and on PATCH: nothing changes.
        let (s, h, p) = app.send_json("POST", "/api/v1/cases", &json!({"title": "c", "externalId": "SF-0001 x"})).await;
        assert_problem(s, &h, &p, 409, "external_id_taken");
        let (s, h, p) = app
            .send_json("PATCH", &format!("/api/v1/cases/{b_id}"), &json!({"externalId": "SF-0001 x"}))
            .await;
        assert_problem(s, &h, &p, 409, "external_id_taken");
        assert!(p["detail"].as_str().unwrap().contains(a["caseId"].as_str().unwrap()), "{p}");
        for bad in [json!(""), json!("x".repeat(129)), json!("tab\there"), json!("é")] {
            let (s, h, p) = app.send_json("POST", "/api/v1/cases", &json!({"title": "d", "externalId": bad})).await;
            assert_problem(s, &h, &p, 422, "validation_failed");
            assert_eq!(p["errors"][0]["field"], "externalId");
        }
        let (s, _, b2) = app
            .send_json("PATCH", &format!("/api/v1/cases/{b_id}"), &json!({"externalId": "SF-0002"}))
            .await;
        assert_eq!(s, 200, "{b2}");
        assert_eq!((b2["externalId"].as_str(), b2["version"].as_u64()), (Some("SF-0002"), Some(2)));
        // Setting the id a case already has changes nothing.
        let (_, _, same) = app
            .send_json("PATCH", &format!("/api/v1/cases/{b_id}"), &json!({"externalId": "SF-0002"}))
            .await;
        assert_eq!(same["version"], 2);
        let (_, _, listed) = app.raw("GET", "/api/v1/cases?externalId=SF-0002", None).await;
        assert_eq!(listed["items"].as_array().unwrap().len(), 1);
        assert_eq!(listed["items"][0]["caseId"], b_id);
        let (_, _, h) = app.raw("GET", &format!("/api/v1/cases/{b_id}/history"), None).await;
        assert_eq!((h["items"][0]["field"].as_str(), h["items"][0]["to"].as_str()), (Some("externalId"), Some("SF-0002")));
        let (_, _, feed) = app.raw("GET", "/api/v1/changes?types=case.updated", None).await;
        let last = feed["items"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["case"]["externalId"], "SF-0002", "{last}");
        // Removed with null: free for another case.
        let (s, _, cleared) = app
            .send_json("PATCH", &format!("/api/v1/cases/{b_id}"), &json!({"externalId": null}))
            .await;
        assert_eq!(s, 200);
        assert!(cleared["externalId"].is_null());
        let (s, _, _) = app.send_json("POST", "/api/v1/cases", &json!({"title": "e", "externalId": "SF-0002"})).await;
        assert_eq!(s, 201);
        // A bulk update by filter on it.
        let (s, _, job) = app
            .send_json("PATCH", "/api/v1/cases/bulk-update", &json!({"filter": {"externalId": "SF-0001 x"}, "set": {"priority": "High"}, "options": {"waitForCompletion": true}}))
            .await;
        assert_eq!(s, 200, "{job}");
        assert_eq!(job["succeeded"], 1);
        assert_eq!(job["results"][0]["caseId"], a["caseId"]);
    }
}
