//! Bulk create and upsert by `externalId`, from JSON, NDJSON and CSV, on both stores.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_app};

const CREATE: &str = "/api/v1/cases/bulk-create";

/// Posts a body of `content_type` to `path`: status, headers, JSON answer.
async fn post(
    app: &TestApp,
    path: &str,
    content_type: &str,
    body: &str,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let res = app
        .http
        .post(format!("{}{path}", app.base))
        .header("content-type", content_type)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, headers, res.json().await.unwrap_or(Value::Null))
}

/// Every result of a finished job.
async fn results(app: &TestApp, job: &Value) -> Vec<Value> {
    let id = job["jobId"].as_str().unwrap();
    let (_, _, page) = app
        .raw(
            "GET",
            &format!("/api/v1/jobs/{id}/results?limit=1000"),
            None,
        )
        .await;
    page["items"].as_array().unwrap().clone()
}

backend_test! {
    async fn a_json_bulk_create_creates_and_an_upsert_updates_by_external_id() {
        let app = spawn_app().await;
        let existing = app.create(json!({"title": "old title", "externalId": "E-1"})).await;
        let taken = app.create(json!({"title": "taken", "caseId": "TAKEN-1"})).await;
        let body = json!([
            {"title": "one", "caseId": "IMP-1", "tags": ["import"]},
            {"title": "two", "externalId": "E-2", "priority": "High"},
            {"title": "new title", "externalId": "E-1", "status": "In Progress"},
            {"title": "dup", "caseId": "TAKEN-1"},
            {"description": "no title"},
            {"title": "an id the schema refuses", "caseId": "qL_e*"},
        ]);
        // Without upsert, the external id is taken.
        let (s, _, plain) = post(&app, &format!("{CREATE}?waitForCompletion=true"), "application/json", &body.to_string()).await;
        assert_eq!(s, 200, "{plain}");
        assert_eq!(plain["type"], "bulk-create");
        let r = results(&app, &plain).await;
        let codes: Vec<Value> = r.iter().map(|x| x["error"]["code"].clone()).collect();
        assert_eq!(codes, [Value::Null, Value::Null, json!("external_id_taken"), json!("case_exists"), json!("validation_failed"), json!("validation_failed")]);
        assert_eq!((r[0]["caseId"].as_str(), r[0]["action"].as_str()), (Some("IMP-1"), Some("created")));
        let generated = r[1]["caseId"].as_str().unwrap().to_owned();
        assert!(generated.starts_with("CASE-"), "{generated}");
        let two = app.client.get_case(&generated).await.unwrap().body;
        assert_eq!((two.title.as_str(), two.priority.as_str(), two.external_id.as_deref()), ("two", "High", Some("E-2")));
        assert_eq!(app.client.get_case(&taken.case_id).await.unwrap().body.title, "taken");
        // Upserting: E-1 and E-2 update their cases, the rest as before.
        let upsert = json!({"cases": [
            {"title": "new title", "externalId": "E-1", "status": "In Progress"},
            {"title": "two again", "externalId": "E-2"},
            {"title": "three", "externalId": "E-3"},
        ], "options": {"upsertBy": "externalId", "waitForCompletion": true}});
        let (s, _, up) = post(&app, CREATE, "application/json", &upsert.to_string()).await;
        assert_eq!(s, 200, "{up}");
        assert_eq!(up["outcome"], "succeeded", "{up}");
        let r = results(&app, &up).await;
        let actions: Vec<&str> = r.iter().map(|x| x["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["updated", "updated", "created"]);
        assert_eq!(r[0]["caseId"], existing.case_id.as_str());
        assert_eq!(r[1]["caseId"], generated.as_str());
        let e1 = app.client.get_case(&existing.case_id).await.unwrap().body;
        assert_eq!((e1.title.as_str(), e1.status.as_str(), e1.version), ("new title", "In Progress", 2));
        // The feed says each creation with its job.
        let (_, _, feed) = app.raw("GET", "/api/v1/changes?types=case.created", None).await;
        let by_job: Vec<&Value> = feed["items"].as_array().unwrap().iter().filter(|c| c["jobId"] == up["jobId"]).collect();
        assert_eq!(by_job.len(), 1);
        assert_eq!(by_job[0]["case"]["externalId"], "E-3");
    }
}

backend_test! {
    async fn ndjson_and_csv_bodies_create_and_a_malformed_one_is_refused_whole_with_its_line() {
        let app = spawn_app().await;
        let before = app.count_cases().await;
        let nd = "{\"title\":\"a\",\"externalId\":\"N-1\"}\n\n{\"title\":\"b\"}\n";
        let (s, _, job) = post(&app, &format!("{CREATE}?waitForCompletion=true"), "application/x-ndjson", nd).await;
        assert_eq!(s, 200, "{job}");
        assert_eq!(job["succeeded"], 2);
        let bad = "{\"title\":\"a\"}\n{\"title\":\"b\",\"owner\":1}\n";
        let (s, h, p) = post(&app, CREATE, "application/x-ndjson", bad).await;
        assert_problem(s, &h, &p, 400, "malformed_json");
        assert_eq!(p["errors"][0]["field"], "line 2", "{p}");
        let csv = "caseId,title,tags,fields.region,priority,externalId\r\nCSV-1,\"Printer, jammed \"\"again\"\"\",a;b,eu,High,\nCSV-2,second,,,,X-9\n";
        let (s, _, job) = post(&app, &format!("{CREATE}?waitForCompletion=true"), "text/csv", csv).await;
        assert_eq!(s, 200, "{job}");
        assert_eq!(job["succeeded"], 2, "{job}");
        let c = app.client.get_case("CSV-1").await.unwrap().body;
        assert_eq!(c.title, "Printer, jammed \"again\"");
        assert_eq!(c.tags, ["a", "b"]);
        assert_eq!((c.fields["region"].as_str(), c.priority.as_str()), (Some("eu"), "High"));
        assert_eq!(app.client.get_case("CSV-2").await.unwrap().body.external_id.as_deref(), Some("X-9"));
        for (body, line) in [
            ("title,priority\nok,Low\nshort\n", "line 3"),
            ("title,owner\nx,y\n", "line 1"),
            ("title\n\"open\n", "line 2"),
        ] {
            let (s, h, p) = post(&app, CREATE, "text/csv", body).await;
            assert_problem(s, &h, &p, 400, "malformed_csv");
            assert_eq!(p["errors"][0]["field"], line, "{body}: {p}");
        }
        let (s, h, p) = post(&app, CREATE, "text/plain", "title\nx\n").await;
        assert_problem(s, &h, &p, 415, "unsupported_media_type");
        // An external id twice, and a count other than expected: nothing.
        let (s, h, p) = post(&app, CREATE, "application/json", &json!([{"title": "a", "externalId": "D"}, {"title": "b", "externalId": "D"}]).to_string()).await;
        assert_problem(s, &h, &p, 422, "validation_failed");
        assert_eq!(p["errors"][0]["field"], "cases[1].externalId");
        let (s, h, p) = post(&app, &format!("{CREATE}?expectedCount=3"), "application/json", &json!([{"title": "a"}]).to_string()).await;
        assert_problem(s, &h, &p, 409, "count_mismatch");
        let (s, h, p) = post(&app, &format!("{CREATE}?upsertBy=caseId"), "application/json", &json!([{"title": "a"}]).to_string()).await;
        assert_problem(s, &h, &p, 422, "validation_failed");
        assert_eq!(app.count_cases().await, before + 4);
    }
}

backend_test! {
    async fn a_dry_run_bulk_create_predicts_and_creates_nothing() {
        let app = spawn_app().await;
        app.create(json!({"title": "has", "externalId": "E-1"})).await;
        let before = app.count_cases().await;
        let body = json!({"cases": [{"title": "x", "externalId": "E-1"}, {"title": "y"}, {"title": "z"}],
            "options": {"upsertBy": "externalId", "dryRun": true, "waitForCompletion": true}});
        let (s, _, job) = post(&app, CREATE, "application/json", &body.to_string()).await;
        assert_eq!(s, 200, "{job}");
        assert_eq!((job["dryRun"].as_bool(), job["succeeded"].as_u64()), (Some(true), Some(3)));
        let r = results(&app, &job).await;
        let actions: Vec<&str> = r.iter().map(|x| x["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["updated", "created", "created"]);
        assert_ne!(r[1]["caseId"], r[2]["caseId"], "each predicted creation has its own id");
        assert_eq!(app.count_cases().await, before);
    }
}

backend_test! {
    async fn an_upsert_keeps_its_options_through_its_key_its_retry_and_its_revert() {
        let app = spawn_app().await;
        let c = app.create(json!({"title": "Old title", "externalId": "E-7", "status": "Resolved"})).await;
        // Resolved cannot go straight to Under Review: the upsert fails, for now.
        let body = json!([{"title": "New title", "externalId": "E-7", "status": "Under Review"}]).to_string();
        let path = |q: &str| format!("{CREATE}?upsertBy=externalId&waitForCompletion=true{q}");
        let (s, _, job) = app
            .http
            .post(format!("{}{}", app.base, path("")))
            .header("content-type", "application/json")
            .header("idempotency-key", "imp-7")
            .body(body.clone())
            .send()
            .await
            .map(|r| (r.status().as_u16(), (), r))
            .unwrap();
        assert_eq!(s, 200);
        let job: Value = job.json().await.unwrap();
        assert_eq!(job["failed"], 1, "{job}");
        assert_eq!(job["results"][0]["error"]["code"], "invalid_transition");
        // The same key and body with another option is another request.
        let res = app
            .http
            .post(format!("{}{}", app.base, path("&dryRun=true")))
            .header("content-type", "application/json")
            .header("idempotency-key", "imp-7")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 422);
        let p: Value = res.json().await.unwrap();
        assert_eq!(p["code"], "idempotency_key_reused");
        // Once the case may move, the retry upserts (it does not create, nor fail as taken).
        let (s, _, _) = app
            .send_json("PATCH", &format!("/api/v1/cases/{}", c.case_id), &json!({"status": "In Progress"}))
            .await;
        assert_eq!(s, 200);
        let (s, _, retry) = app
            .raw("POST", &format!("/api/v1/jobs/{}/retry-failed", job["jobId"].as_str().unwrap()), None)
            .await;
        assert_eq!(s, 200, "{retry}");
        let retried = app.wait_job(retry["jobId"].as_str().unwrap()).await;
        assert_eq!(retried["succeeded"], 1, "{retried}");
        let r = results(&app, &retried).await;
        assert_eq!((r[0]["caseId"].as_str(), r[0]["action"].as_str()), (Some(c.case_id.as_str()), Some("updated")));
        let now = app.client.get_case(&c.case_id).await.unwrap().body;
        assert_eq!((now.title.as_str(), now.status.as_str()), ("New title", "Under Review"));
        // Its revert puts the title back too (a bulk update cannot change one).
        let (s, _, rev) = app
            .raw("POST", &format!("/api/v1/jobs/{}/revert", retried["jobId"].as_str().unwrap()), None)
            .await;
        assert_eq!(s, 200, "{rev}");
        let reverted = app.wait_job(rev["jobId"].as_str().unwrap()).await;
        assert_eq!(reverted["succeeded"], 1, "{reverted}");
        let back = app.client.get_case(&c.case_id).await.unwrap().body;
        assert_eq!((back.title.as_str(), back.status.as_str()), ("Old title", "In Progress"));
        // A CSV naming a column twice is refused whole.
        let (s, h, p) = post(&app, CREATE, "text/csv", "title,title\na,b\n").await;
        assert_problem(s, &h, &p, 400, "malformed_csv");
    }
}
