//! Bulk updates: the seed's scenario, both body forms, waiting, request-level rejections,
//! item failures, atomic jobs, idempotency.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with};

/// Creates `n` cases `C-0`.. in `status`.
async fn cases_in(app: &TestApp, n: usize, status: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let c = app
            .create(
                json!({"caseId": format!("C-{i}"), "title": format!("case {i}"), "status": status}),
            )
            .await;
        ids.push(c.case_id);
    }
    ids
}

async fn versions(app: &TestApp, ids: &[String]) -> Vec<u64> {
    let mut out = Vec::new();
    for id in ids {
        out.push(app.client.get_case(id).await.unwrap().body.version);
    }
    out
}

backend_test! {
    async fn the_seed_scenario_every_case_reads_the_new_status_once_the_job_is_completed() {
        let app = spawn_app().await;
        let ids = cases_in(&app, 100, "In Progress").await;
        let updates: Vec<Value> = ids
            .iter()
            .map(|id| json!({"caseId": id, "status": "Under Review"}))
            .collect();
        let body =
            json!({"updates": updates, "options": {"waitForCompletion": false, "returnJobId": true}});
        let (status, headers, accepted) = app
            .send_json("PATCH", "/api/v1/cases/bulk-update", &body)
            .await;
        assert_eq!(status, 200, "{accepted}");
        assert_eq!(accepted["queued"], 100);
        assert_eq!(accepted["status"], "queued");
        let job_id = accepted["jobId"].as_str().unwrap().to_owned();
        assert!(job_id.starts_with("job-"));
        assert_eq!(
            accepted["statusUrl"],
            format!("/api/v1/jobs/{job_id}/status")
        );
        assert_eq!(
            headers.get("location").unwrap().to_str().unwrap(),
            format!("/api/v1/jobs/{job_id}/status")
        );
        // Poll the status as the seed recommends, until completed.
        let mut last = Value::Null;
        for _ in 0..500 {
            let (s, _, st) = app
                .raw("GET", &format!("/api/v1/jobs/{job_id}/status"), None)
                .await;
            assert_eq!(s, 200);
            last = st;
            if last["status"] == "completed" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(last["status"], "completed", "{last}");
        assert_eq!(last["outcome"], "succeeded");
        assert_eq!(
            (
                last["total"].as_u64(),
                last["processed"].as_u64(),
                last["succeeded"].as_u64()
            ),
            (Some(100), Some(100), Some(100))
        );
        assert_eq!(last["progress"], 100.0);
        assert!(last["consistencyToken"].is_string());
        for id in &ids {
            assert_eq!(
                app.client.get_case(id).await.unwrap().body.status,
                "Under Review",
                "{id}"
            );
        }
        // Each case's history names the job.
        let h = app
            .client
            .history(&ids[0], &docket_api::PageQuery::default())
            .await
            .unwrap();
        assert_eq!(h.items[0].job_id.as_deref(), Some(job_id.as_str()));
    }
}

backend_test! {
    async fn bare_array_body_is_accepted_with_default_options_and_post_works_too() {
        let app = spawn_app().await;
        let ids = cases_in(&app, 3, "Open").await;
        let body = json!(
            ids.iter()
                .map(|id| json!({"caseId": id, "priority": "Critical"}))
                .collect::<Vec<_>>()
        );
        let (s, _, accepted) = app
            .send_json("POST", "/api/v1/cases/bulk-update", &body)
            .await;
        assert_eq!(s, 200, "{accepted}");
        assert_eq!(accepted["queued"], 3);
        let done = app.wait_job(accepted["jobId"].as_str().unwrap()).await;
        assert_eq!(done["outcome"], "succeeded");
        assert_eq!(
            app.client.get_case(&ids[2]).await.unwrap().body.priority,
            "Critical"
        );
    }
}

backend_test! {
    async fn wait_for_completion_answers_200_with_results_or_202_on_timeout() {
        let app = spawn_app().await;
        let ids = cases_in(&app, 5, "Open").await;
        let updates: Vec<Value> = ids
            .iter()
            .map(|id| json!({"caseId": id, "status": "Pending"}))
            .collect();
        let (s, h, job) = app
            .send_json(
                "PATCH",
                "/api/v1/cases/bulk-update",
                &json!({"updates": updates, "options": {"waitForCompletion": true}}),
            )
            .await;
        assert_eq!(s, 200, "{job}");
        assert_eq!(job["status"], "completed");
        assert_eq!(job["results"].as_array().unwrap().len(), 5);
        assert_eq!(job["results"][4]["outcome"], "succeeded");
        assert_eq!(job["results"][4]["version"], 2);
        assert!(h.get("x-consistency-token").is_some());
        // A zero timeout answers before the job can end: a job of 200 one-item chunks
        // (a 5-item job may finish within the request, as fast as jobs now run).
        let (s, _, body) = app
            .send_json("PATCH", "/api/v1/settings", &json!({"Jobs.ChunkSize": 1}))
            .await;
        assert_eq!(s, 200, "{body}");
        let mut updates = Vec::new();
        for i in 0..200 {
            let c = app
                .create(json!({"caseId": format!("S-{i}"), "title": "slow", "status": "Open"}))
                .await;
            updates.push(json!({"caseId": c.case_id, "status": "Pending"}));
        }
        let (s, h, st) = app
            .send_json(
                "PATCH",
                "/api/v1/cases/bulk-update",
                &json!({"updates": updates, "options": {"waitForCompletion": true, "timeoutSeconds": 0}}),
            )
            .await;
        assert_eq!(s, 202, "{st}");
        assert!(st["jobId"].is_string());
        // The job is stored: the answer carries the submission's token and where to look.
        assert!(h.contains_key("x-consistency-token") && h.contains_key("location"), "{h:?}");
        assert_eq!(
            app.wait_job(st["jobId"].as_str().unwrap()).await["status"],
            "completed"
        );
    }
}

backend_test! {
    async fn return_job_id_false_leaves_out_the_job_id() {
        let app = spawn_app().await;
        cases_in(&app, 1, "Open").await;
        let body = json!({"updates": [{"caseId": "C-0", "status": "Pending"}], "options": {"returnJobId": false}});
        let (s, h, accepted) = app
            .send_json("PATCH", "/api/v1/cases/bulk-update", &body)
            .await;
        assert_eq!(s, 200);
        assert!(
            accepted.get("jobId").is_none() && accepted.get("statusUrl").is_none(),
            "{accepted}"
        );
        assert!(h.get("location").is_none());
        assert_eq!(accepted["queued"], 1);
    }
}

backend_test! {
    async fn request_level_rejections_create_nothing() {
        let app = spawn_app_with(|c| {
            c.settings.max_items_per_request = 5;
            c.jobs.max_queued_items = 4;
        })
        .await;
        let ids = cases_in(&app, 6, "Open").await;
        let before = versions(&app, &ids).await;
        let item = |id: &str| json!({"caseId": id, "status": "Pending"});
        let path = "/api/v1/cases/bulk-update";
        let (s, h, b) = app.raw("PATCH", path, Some(r#"{"updates": [ "#)).await;
        assert_problem(s, &h, &b, 400, "malformed_json");
        let (s, h, b) = app.send_json("PATCH", path, &json!({"updates": []})).await;
        assert_problem(s, &h, &b, 422, "validation_failed");
        let six: Vec<Value> = ids.iter().map(|id| item(id)).collect();
        let (s, h, b) = app.send_json("PATCH", path, &json!(six)).await;
        assert_problem(s, &h, &b, 413, "payload_too_large");
        let (s, h, b) = app
            .send_json(
                "PATCH",
                path,
                &json!([item("C-0"), item("C-1"), item("C-0")]),
            )
            .await;
        assert_problem(s, &h, &b, 422, "validation_failed");
        assert_eq!(b["errors"][0]["field"], "updates[2].caseId");
        assert!(b["detail"].as_str().unwrap().contains("C-0"));
        let (s, h, b) = app
            .send_json("PATCH", path, &json!([{"caseId": "C-0", "colour": "red"}]))
            .await;
        assert_problem(s, &h, &b, 400, "unknown_field");
        assert_eq!(b["errors"][0]["field"], "[0].colour");
        let (s, h, b) = app
            .send_json(
                "PATCH",
                path,
                &json!({"updates": [item("C-0")], "options": {"wait": true}}),
            )
            .await;
        assert_problem(s, &h, &b, 400, "unknown_field");
        let (s, h, b) = app
            .send_json(
                "PATCH",
                path,
                &json!({"updates": [item("C-0")], "options": {"callbackUrl": "http://127.0.0.1:9/x"}}),
            )
            .await;
        assert_problem(s, &h, &b, 422, "validation_failed");
        let (s, h, b) = app
            .send_json("PATCH", path, &json!([{"status": "Pending"}]))
            .await;
        assert_problem(s, &h, &b, 422, "validation_failed");
        assert_eq!(app.job_count().await, 0, "a rejected request created a job");
        assert_eq!(versions(&app, &ids).await, before);

        // Queue full: 5 items would exceed the 4 the queue may hold.
        let five: Vec<Value> = ids[..5].iter().map(|id| item(id)).collect();
        let (s, h, b) = app.send_json("PATCH", path, &json!(five)).await;
        assert_problem(s, &h, &b, 429, "queue_full");
        assert!(h.get("retry-after").is_some());
        assert_eq!(app.job_count().await, 0, "a request refused as queue_full created a job");
        assert_eq!(versions(&app, &ids).await, before);
        // Work that fits is still accepted.
        let (s, _, _) = app.send_json("PATCH", path, &json!(five[..4])).await;
        assert_eq!(s, 200);
    }
}

backend_test! {
    async fn item_failures_fail_only_their_item_with_the_right_code() {
        let app = spawn_app().await;
        cases_in(&app, 4, "Open").await;
        app.create(json!({"caseId": "SHUT", "title": "t", "status": "Open"}))
            .await;
        app.client
            .update_case(
                "SHUT",
                &docket_api::CasePatch {
                    status: Some("Closed".into()),
                    ..Default::default()
                },
                None,
            )
            .await
            .unwrap();
        let body = json!({"updates": [
            {"caseId": "C-0", "status": "Pending"},
            {"caseId": "MISSING", "status": "Pending"},
            {"caseId": "SHUT", "status": "Open"},
            {"caseId": "C-1", "status": "Pending", "expectedVersion": 7},
            {"caseId": "C-2", "status": "Nowhere"},
            {"caseId": "C-3", "assignee": "zoe"},
        ], "options": {"waitForCompletion": true}});
        let (s, _, job) = app
            .send_json("PATCH", "/api/v1/cases/bulk-update", &body)
            .await;
        assert_eq!(s, 200, "{job}");
        assert_eq!(job["status"], "completed");
        assert_eq!(job["outcome"], "partial");
        assert_eq!(
            (job["succeeded"].as_u64(), job["failed"].as_u64()),
            (Some(2), Some(4))
        );
        let codes: Vec<Value> = job["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["error"]["code"].clone())
            .collect();
        assert_eq!(
            codes,
            [
                Value::Null,
                json!("case_not_found"),
                json!("invalid_transition"),
                json!("version_conflict"),
                json!("validation_failed"),
                Value::Null
            ]
        );
        assert_eq!(
            app.client.get_case("C-0").await.unwrap().body.status,
            "Pending"
        );
        assert_eq!(
            app.client
                .get_case("C-3")
                .await
                .unwrap()
                .body
                .assignee
                .as_deref(),
            Some("zoe")
        );
        assert_eq!(app.client.get_case("C-1").await.unwrap().body.version, 1);
        // Results can be filtered by outcome.
        let (_, _, failed) = app
            .raw(
                "GET",
                &format!(
                    "/api/v1/jobs/{}/results?outcome=failed",
                    job["jobId"].as_str().unwrap()
                ),
                None,
            )
            .await;
        let idx: Vec<u64> = failed["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["index"].as_u64().unwrap())
            .collect();
        assert_eq!(idx, [1, 2, 3, 4]);
    }
}

backend_test! {
    async fn atomic_jobs_apply_all_or_nothing() {
        let app = spawn_app().await;
        let ids = cases_in(&app, 3, "Open").await;
        let body = json!({"updates": [
            {"caseId": "C-0", "status": "Pending"}, {"caseId": "C-1", "status": "New"}, {"caseId": "C-2", "status": "Pending"}
        ], "options": {"atomic": true, "waitForCompletion": true}});
        let (s, _, job) = app
            .send_json("PATCH", "/api/v1/cases/bulk-update", &body)
            .await;
        assert_eq!(s, 200, "{job}");
        assert_eq!(job["status"], "failed");
        assert_eq!(job["outcome"], "none");
        assert_eq!(job["results"][1]["error"]["code"], "invalid_transition");
        assert_eq!(job["results"][0]["outcome"], "cancelled");
        assert_eq!(
            versions(&app, &ids).await,
            [1, 1, 1],
            "an atomic job with a failed item applied something"
        );
        let good = json!({"updates": [{"caseId": "C-0", "status": "Pending"}, {"caseId": "C-2", "status": "Pending"}],
            "options": {"atomic": true, "waitForCompletion": true}});
        let (_, _, job) = app
            .send_json("PATCH", "/api/v1/cases/bulk-update", &good)
            .await;
        assert_eq!(job["status"], "completed");
        assert_eq!(versions(&app, &ids).await, [2, 1, 2]);
    }
}

backend_test! {
    async fn idempotency_key_replays_the_original_job_and_refuses_another_body() {
        let app = spawn_app().await;
        cases_in(&app, 2, "Open").await;
        let send = |body: Value| {
            let http = app.http.clone();
            let url = format!("{}/api/v1/cases/bulk-update", app.base);
            async move {
                let res = http
                    .patch(url)
                    .header("idempotency-key", "k-1")
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                (res.status().as_u16(), res.json::<Value>().await.unwrap())
            }
        };
        let body = json!([{"caseId": "C-0", "status": "Pending"}]);
        let (s1, a) = send(body.clone()).await;
        let (s2, b) = send(body).await;
        assert_eq!((s1, s2), (200, 200));
        assert_eq!(a["jobId"], b["jobId"]);
        assert_eq!(app.job_count().await, 1);
        let (s3, c) = send(json!([{"caseId": "C-1", "status": "Pending"}])).await;
        assert_eq!(s3, 422);
        assert_eq!(c["code"], "idempotency_key_reused");
        assert_eq!(app.job_count().await, 1);
    }
}
