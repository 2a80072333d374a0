//! Bulk updates by filter, the item operators (`tagsAdd`, `tagsRemove`, `if`) and dry
//! runs, on both stores.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with};

const BULK: &str = "/api/v1/cases/bulk-update";

/// Creates a case and returns its id (a `Closed` one is created open, then closed).
async fn case(app: &TestApp, status: &str, tags: &[&str], assignee: Option<&str>) -> String {
    let first = if status == "Closed" { "Open" } else { status };
    let id = app
        .create(json!({"title": "filtered", "status": first, "tags": tags, "assignee": assignee}))
        .await
        .case_id;
    if first != status {
        let (s, _, b) = app
            .send_json(
                "PATCH",
                &format!("/api/v1/cases/{id}"),
                &json!({"status": status}),
            )
            .await;
        assert_eq!(s, 200, "{b}");
    }
    id
}

/// Submits a bulk body (must be stored) and waits for the job: its final status.
async fn run(app: &TestApp, body: &Value) -> Value {
    let (s, _, accepted) = app.send_json("PATCH", BULK, body).await;
    assert_eq!(s, 200, "{accepted}");
    app.wait_job(accepted["jobId"].as_str().unwrap()).await
}

/// Every result of a job, in index order.
async fn results(app: &TestApp, job: &str) -> Vec<Value> {
    let (s, _, page) = app
        .raw(
            "GET",
            &format!("/api/v1/jobs/{job}/results?limit=1000"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{page}");
    assert!(page["nextCursor"].is_null(), "{page}");
    page["items"].as_array().unwrap().clone()
}

/// The ids the list endpoint gives for `query`, in creation order.
async fn listed(app: &TestApp, query: &str) -> Vec<String> {
    let (s, _, page) = app
        .raw("GET", &format!("/api/v1/cases?{query}&limit=1000"), None)
        .await;
    assert_eq!(s, 200, "{page}");
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["caseId"].as_str().unwrap().to_owned())
        .collect()
}

/// Every case with its full history, and the change feed's last position: what a dry
/// run must leave as it was.
async fn everything(app: &TestApp) -> (Vec<Value>, String) {
    let mut out = Vec::new();
    let (_, _, page) = app.raw("GET", "/api/v1/cases?limit=1000", None).await;
    for c in page["items"].as_array().unwrap() {
        let id = c["caseId"].as_str().unwrap();
        let (_, _, history) = app
            .raw(
                "GET",
                &format!("/api/v1/cases/{id}/history?limit=1000"),
                None,
            )
            .await;
        out.push(json!({"case": c, "history": history["items"]}));
    }
    let (s, _, feed) = app.raw("GET", "/api/v1/changes?limit=1000", None).await;
    assert_eq!(s, 200, "{feed}");
    (out, feed["nextAfter"].as_str().unwrap().to_owned())
}

backend_test! {
    async fn a_filter_job_updates_the_listings_matches_at_submit_time_and_no_others() {
        let app = spawn_app_with(|c| c.settings.chunk_size = 3).await;
        let mut vip = Vec::new();
        for i in 0..10 {
            vip.push(case(&app, "In Progress", &["vip"], None).await);
            case(&app, if i % 2 == 0 { "In Progress" } else { "Open" }, &["other"], None).await;
        }
        let expected = listed(&app, "status=in%20progress&tag=vip").await;
        assert_eq!(expected, vip);
        let body = json!({
            "filter": {"status": "in progress", "tag": "vip"},
            "set": {"status": "Under Review", "tagsAdd": ["triaged"]},
            "options": {"expectedCount": 10}
        });
        let (s, _, accepted) = app.send_json("PATCH", BULK, &body).await;
        assert_eq!(s, 200, "{accepted}");
        assert_eq!(accepted["queued"], 10);
        // A case that comes to match after the submit is not the job's.
        let late = case(&app, "In Progress", &["vip"], None).await;
        let job = accepted["jobId"].as_str().unwrap();
        let done = app.wait_job(job).await;
        assert_eq!(done["outcome"], "succeeded", "{done}");
        assert_eq!(done["total"], 10);
        assert_eq!(done["dryRun"], false);
        let items = results(&app, job).await;
        let ids: Vec<&str> = items.iter().map(|r| r["caseId"].as_str().unwrap()).collect();
        assert_eq!(ids, expected);
        for (i, r) in items.iter().enumerate() {
            assert_eq!(r["index"], i as u64);
        }
        for id in &vip {
            let c = app.client.get_case(id).await.unwrap().body;
            assert_eq!(c.status, "Under Review");
            assert_eq!(c.tags, ["vip", "triaged"]);
        }
        let c = app.client.get_case(&late).await.unwrap().body;
        assert_eq!((c.status.as_str(), c.version), ("In Progress", 1));
        // Nothing matches now: a job of no items, completed at once.
        let (s, _, none) = app
            .send_json("PATCH", BULK, &json!({"filter": {"status": "in progress", "tag": "vip", "q": "no-such-title"}, "set": {"priority": "High"}}))
            .await;
        assert_eq!(s, 200, "{none}");
        assert_eq!((none["status"].as_str(), none["queued"].as_u64()), (Some("completed"), Some(0)), "{none}");
        let (_, _, st) = app.raw("GET", none["statusUrl"].as_str().unwrap(), None).await;
        assert_eq!((st["status"].as_str(), st["outcome"].as_str(), st["total"].as_u64()), (Some("completed"), Some("succeeded"), Some(0)), "{st}");
        // Its end is in the feed, as every job's is.
        let (_, _, ends) = app.raw("GET", "/api/v1/changes?types=job.completed&limit=1000", None).await;
        assert!(ends["items"].as_array().unwrap().iter().any(|c| c["jobId"] == none["jobId"]), "{ends}");
    }
}

backend_test! {
    async fn a_count_other_than_expected_or_over_the_limit_creates_nothing() {
        let app = spawn_app_with(|c| c.settings.max_items_per_filter = 5).await;
        for _ in 0..4 {
            case(&app, "Open", &[], Some("ann")).await;
        }
        let jobs = app.job_count().await;
        let body = json!({"filter": {"assignee": "ann"}, "set": {"priority": "High"}, "options": {"expectedCount": 3}});
        let (s, h, p) = app.send_json("PATCH", BULK, &body).await;
        assert_problem(s, &h, &p, 409, "count_mismatch");
        assert!(p["detail"].as_str().unwrap().contains('4'), "{p}");
        // By ids, the count is the number of items.
        let ids = listed(&app, "assignee=ann").await;
        let updates: Vec<Value> = ids.iter().map(|id| json!({"caseId": id, "priority": "Low"})).collect();
        let (s, h, p) = app
            .send_json("PATCH", BULK, &json!({"updates": updates, "options": {"expectedCount": 5}}))
            .await;
        assert_problem(s, &h, &p, 409, "count_mismatch");
        case(&app, "Open", &[], Some("ann")).await;
        case(&app, "Open", &[], Some("ann")).await;
        let (s, h, p) = app
            .send_json("PATCH", BULK, &json!({"filter": {"assignee": "ann"}, "set": {"priority": "High"}}))
            .await;
        assert_problem(s, &h, &p, 413, "payload_too_large");
        assert!(p["detail"].as_str().unwrap().contains("Jobs.MaxItemsPerFilter"), "{p}");
        // An atomic job applies every item in one transaction: Jobs.MaxItemsPerRequest
        // bounds it too.
        let (s, _, _) = app
            .send_json("PATCH", "/api/v1/settings", &json!({"Jobs.MaxItemsPerFilter": 100, "Jobs.MaxItemsPerRequest": 3}))
            .await;
        assert_eq!(s, 200);
        let (s, h, p) = app
            .send_json("PATCH", BULK, &json!({"filter": {"assignee": "ann"}, "set": {"priority": "High"}, "options": {"atomic": true}}))
            .await;
        assert_problem(s, &h, &p, 413, "payload_too_large");
        assert!(p["detail"].as_str().unwrap().contains("more than 3"), "{p}");
        assert_eq!(app.job_count().await, jobs);
        for id in listed(&app, "assignee=ann").await {
            assert_eq!(app.client.get_case(&id).await.unwrap().body.version, 1);
        }
    }
}

backend_test! {
    async fn a_bad_filter_or_set_is_refused_naming_the_field() {
        let app = spawn_app().await;
        case(&app, "Open", &[], None).await;
        let cases: [(Value, u16, &str, &str); 8] = [
            (json!({"filter": {"status": "Nope"}, "set": {"priority": "High"}}), 422, "validation_failed", "filter.status"),
            (json!({"filter": {"updatedBefore": "yesterday"}, "set": {"priority": "High"}}), 422, "validation_failed", "filter.updatedBefore"),
            (json!({"filter": {}, "set": {"priority": "Huge"}}), 422, "validation_failed", "set.priority"),
            (json!({"filter": {}, "set": {"tags": ["a"], "tagsAdd": ["b"]}}), 422, "validation_failed", "set.tags"),
            (json!({"filter": {}, "set": {}}), 422, "validation_failed", "set"),
            (json!({"filter": {}}), 422, "validation_failed", "set"),
            (json!({"filter": {}, "set": {"priority": "High"}, "updates": [{"caseId": "CASE-000001"}]}), 422, "validation_failed", "updates"),
            (json!({"filter": {"owner": "x"}, "set": {"priority": "High"}}), 400, "unknown_field", ""),
        ];
        for (body, status, code, field) in cases {
            let (s, h, p) = app.send_json("PATCH", BULK, &body).await;
            assert_problem(s, &h, &p, status, code);
            if !field.is_empty() {
                assert_eq!(p["errors"][0]["field"], field, "{body}: {p}");
            }
        }
        assert_eq!(app.job_count().await, 0);
    }
}

backend_test! {
    async fn operators_and_preconditions_apply_per_item() {
        let app = spawn_app().await;
        let a = case(&app, "In Progress", &["vip", "old"], Some("ann")).await;
        let b = case(&app, "Open", &["vip"], Some("bob")).await;
        let c = case(&app, "In Progress", &[], None).await;
        let body = json!([
            {"caseId": a, "tagsAdd": ["new"], "tagsRemove": ["old"], "if": {"status": ["In Progress"], "assignee": "ann"}},
            {"caseId": b, "status": "In Progress", "if": {"status": ["In Progress", "Pending"]}},
            {"caseId": c, "assignee": "cy", "if": {"assignee": null}},
        ]);
        let done = run(&app, &body).await;
        assert_eq!((done["succeeded"].as_u64(), done["failed"].as_u64()), (Some(2), Some(1)), "{done}");
        let items = results(&app, done["jobId"].as_str().unwrap()).await;
        assert_eq!(items[1]["error"]["code"], "precondition_failed");
        assert!(items[1]["error"]["detail"].as_str().unwrap().contains("Open"), "{}", items[1]);
        assert_eq!(app.client.get_case(&a).await.unwrap().body.tags, ["vip", "new"]);
        let b_now = app.client.get_case(&b).await.unwrap().body;
        assert_eq!((b_now.status.as_str(), b_now.version), ("Open", 1));
        assert_eq!(app.client.get_case(&c).await.unwrap().body.assignee.as_deref(), Some("cy"));
        // Only the tags named move: the history records the whole list once.
        let (_, _, h) = app.raw("GET", &format!("/api/v1/cases/{a}/history"), None).await;
        assert_eq!(h["items"][0]["field"], "tags");
        assert_eq!(h["items"][0]["to"], json!(["vip", "new"]));
        // An item with tags and an operator fails alone, as invalid.
        let done = run(&app, &json!([{"caseId": a, "tags": ["x"], "tagsRemove": ["vip"]}])).await;
        assert_eq!(done["failed"], 1);
        // `set` with a precondition: the cases that do not match fail, the rest change.
        let done = run(&app, &json!({"filter": {"tag": "vip"}, "set": {"priority": "Critical", "if": {"assignee": "ann"}}})).await;
        assert_eq!((done["succeeded"].as_u64(), done["failed"].as_u64()), (Some(1), Some(1)), "{done}");
        assert_eq!(app.client.get_case(&a).await.unwrap().body.priority, "Critical");
        assert_eq!(app.client.get_case(&b).await.unwrap().body.priority, "Medium");
    }
}

backend_test! {
    async fn a_dry_run_changes_nothing_and_predicts_what_the_real_run_does() {
        let app = spawn_app_with(|c| c.settings.chunk_size = 4).await;
        for i in 0..12 {
            let status = ["In Progress", "Closed", "Open"][i % 3];
            case(&app, status, &["batch"], if i % 4 == 0 { Some("ann") } else { None }).await;
        }
        let set = json!({"status": "Under Review", "tagsAdd": ["seen"], "if": {"assignee": null}});
        let before = everything(&app).await;
        let dry = run(&app, &json!({"filter": {"tag": "batch"}, "set": set, "options": {"dryRun": true}})).await;
        assert_eq!(dry["dryRun"], true, "{dry}");
        assert_eq!(dry["status"], "completed");
        let by_ids = run(&app, &json!({"updates": [{"caseId": "CASE-000002", "priority": "Low"}], "options": {"dryRun": true}})).await;
        assert_eq!(by_ids["succeeded"], 1);
        assert_eq!(everything(&app).await, before, "a dry run changed something");
        let real = run(&app, &json!({"filter": {"tag": "batch"}, "set": set})).await;
        assert_eq!(real["dryRun"], false);
        let predicted = results(&app, dry["jobId"].as_str().unwrap()).await;
        let happened = results(&app, real["jobId"].as_str().unwrap()).await;
        assert_eq!(predicted, happened);
        let codes: Vec<&str> = happened.iter().filter_map(|r| r["error"]["code"].as_str()).collect();
        assert!(codes.contains(&"invalid_transition") && codes.contains(&"precondition_failed"), "{codes:?}");
        assert!(real["succeeded"].as_u64().unwrap() > 0);
        assert_ne!(everything(&app).await.0, before.0);
        // A dry run's retry is a dry run too.
        let (s, _, retry) = app
            .raw("POST", &format!("/api/v1/jobs/{}/retry-failed", dry["jobId"].as_str().unwrap()), None)
            .await;
        assert_eq!(s, 200, "{retry}");
        let id = retry["jobId"].as_str().or(retry["job"]["jobId"].as_str()).unwrap().to_owned();
        let retried = app.wait_job(&id).await;
        assert_eq!(retried["dryRun"], true);
        assert_eq!(retried["total"], dry["failed"]);
    }
}

backend_test! {
    async fn a_retry_of_a_filter_job_applies_its_set_to_the_failed_cases() {
        let app = spawn_app().await;
        let closed = case(&app, "Closed", &["r"], None).await;
        case(&app, "Open", &["r"], None).await;
        let done = run(&app, &json!({"filter": {"tag": "r"}, "set": {"status": "In Progress"}})).await;
        assert_eq!(done["failed"], 1);
        // The retry applies the job's `set` again (the items of a filter job carry none
        // of their own): the closed case refuses it again, as a transition, not as an
        // unreadable item.
        let (s, _, retry) = app
            .raw("POST", &format!("/api/v1/jobs/{}/retry-failed", done["jobId"].as_str().unwrap()), None)
            .await;
        assert_eq!(s, 200, "{retry}");
        let id = retry["jobId"].as_str().or(retry["job"]["jobId"].as_str()).unwrap().to_owned();
        let again = app.wait_job(&id).await;
        assert_eq!((again["total"].as_u64(), again["failed"].as_u64()), (Some(1), Some(1)));
        let items = results(&app, &id).await;
        assert_eq!(items[0]["caseId"], closed.as_str());
        assert_eq!(items[0]["error"]["code"], "invalid_transition");
    }
}

backend_test! {
    async fn the_listing_filters_by_updated_before() {
        let app = spawn_app().await;
        let old = app.create(json!({"title": "old"})).await;
        app.clock.advance(std::time::Duration::from_secs(60));
        let new = app.create(json!({"title": "new"})).await;
        assert_eq!(listed(&app, &format!("updatedBefore={}", new.updated_at)).await, std::slice::from_ref(&old.case_id));
        assert!(listed(&app, &format!("updatedBefore={}", old.updated_at)).await.is_empty());
        assert_eq!(listed(&app, &format!("updatedSince={}&updatedBefore={}", old.updated_at, new.updated_at)).await, [old.case_id]);
        let (s, h, p) = app.raw("GET", "/api/v1/cases?updatedBefore=soon", None).await;
        assert_problem(s, &h, &p, 400, "invalid_query");
    }
}

backend_test! {
    async fn a_revert_restores_what_a_job_changed_and_reports_cases_changed_since() {
        let app = spawn_app().await;
        let a = case(&app, "In Progress", &["x"], Some("ann")).await;
        let b = case(&app, "Open", &[], None).await;
        let d = case(&app, "Resolved", &[], None).await;
        let (s, _, t) = app
            .send_json("POST", &format!("/api/v1/cases/{d}/tasks"), &json!({"title": "check"}))
            .await;
        assert_eq!(s, 201, "{t}");
        let gone = case(&app, "Open", &[], None).await;
        let moved = case(&app, "Open", &[], None).await;
        let same = case(&app, "Open", &[], None).await;
        let job = run(&app, &json!([
            {"caseId": a, "status": "Under Review", "assignee": "bob", "tagsAdd": ["y"], "fields": {"region": "eu"}},
            {"caseId": b, "priority": "High"},
            {"caseId": d, "status": "Closed"},
            {"caseId": gone, "priority": "Low"},
            {"caseId": moved, "priority": "Low"},
            {"caseId": same, "priority": "Medium"},
            {"caseId": "CASE-999999", "priority": "Low"},
        ]))
        .await;
        assert_eq!((job["succeeded"].as_u64(), job["failed"].as_u64()), (Some(6), Some(1)), "{job}");
        let job_id = job["jobId"].as_str().unwrap();
        assert_eq!(app.snapshot(&d).await.2[0].status, "done");
        let (s, _, _) = app.raw("DELETE", &format!("/api/v1/cases/{gone}"), None).await;
        assert_eq!(s, 204);
        let (s, _, _) = app
            .send_json("PATCH", &format!("/api/v1/cases/{moved}"), &json!({"assignee": "zed"}))
            .await;
        assert_eq!(s, 200);
        let before_revert = app.client.get_case(&same).await.unwrap().body;
        let (s, h, accepted) = app.raw("POST", &format!("/api/v1/jobs/{job_id}/revert"), None).await;
        assert_eq!(s, 200, "{accepted}");
        assert!(h.get("location").is_some());
        // Every case the job changed; not the one it left as it was, nor the missing one.
        assert_eq!(accepted["queued"], 5, "{accepted}");
        let revert = app.wait_job(accepted["jobId"].as_str().unwrap()).await;
        assert_eq!(revert["revertOf"], job_id);
        assert_eq!((revert["succeeded"].as_u64(), revert["failed"].as_u64()), (Some(3), Some(2)), "{revert}");
        let a_now = app.client.get_case(&a).await.unwrap().body;
        assert_eq!((a_now.status.as_str(), a_now.assignee.as_deref()), ("In Progress", Some("ann")));
        assert_eq!(a_now.tags, ["x"]);
        assert!(a_now.fields.get("region").is_none(), "{:?}", a_now.fields);
        assert_eq!(app.client.get_case(&b).await.unwrap().body.priority, "Medium");
        // Out of a terminal status, which the workflow alone would refuse; the task the
        // cascade closed stays closed.
        let (d_now, _, tasks) = app.snapshot(&d).await;
        assert_eq!(d_now.status, "Resolved");
        assert_eq!(tasks[0].status, "done");
        let items = results(&app, accepted["jobId"].as_str().unwrap()).await;
        let code = |id: &str| {
            items.iter().find(|r| r["caseId"] == id).map(|r| r["error"]["code"].clone()).unwrap()
        };
        assert_eq!(code(&gone), "case_not_found");
        assert_eq!(code(&moved), "version_conflict");
        assert_eq!(app.client.get_case(&moved).await.unwrap().body.priority, "Low");
        assert_eq!(app.client.get_case(&same).await.unwrap().body, before_revert);
        // A dry run has nothing to revert; a job not found is 404.
        let dry = run(&app, &json!({"updates": [{"caseId": b, "priority": "Low"}], "options": {"dryRun": true}})).await;
        let (s, h, p) = app.raw("POST", &format!("/api/v1/jobs/{}/revert", dry["jobId"].as_str().unwrap()), None).await;
        assert_problem(s, &h, &p, 422, "validation_failed");
        let (s, h, p) = app.raw("POST", "/api/v1/jobs/job-0000/revert", None).await;
        assert_problem(s, &h, &p, 404, "job_not_found");
    }
}

/// A job's results as the paged endpoint gives them, every page.
async fn paged_results(app: &TestApp, job: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let (s, _, page) = app
            .raw(
                "GET",
                &format!("/api/v1/jobs/{job}/results?limit=700{cursor}"),
                None,
            )
            .await;
        assert_eq!(s, 200, "{page}");
        out.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["nextCursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return out,
        }
    }
}

/// The body of the results export in `accept`.
async fn exported(app: &TestApp, job: &str, accept: &str) -> (String, String) {
    let res = app
        .http
        .get(format!("{}/api/v1/jobs/{job}/results", app.base))
        .header("accept", accept)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    (ct, res.text().await.unwrap())
}

backend_test! {
    async fn the_results_export_equals_the_paged_results() {
        let app = spawn_app_with(|c| c.settings.max_items_per_request = 5_000).await;
        app.seed(2_000).await;
        // 2,500 items: 500 name no case; some others cannot move.
        let items: Vec<Value> = (1..=2_500)
            .map(|i| json!({"caseId": format!("CASE-{i:06}"), "status": "Under Review", "statusReason": "a, \"quoted\" reason"}))
            .collect();
        let done = run(&app, &json!(items)).await;
        let job = done["jobId"].as_str().unwrap();
        let paged = paged_results(&app, job).await;
        assert_eq!(paged.len(), 2_500);
        let (ct, ndjson) = exported(&app, job, "application/x-ndjson").await;
        assert_eq!(ct, "application/x-ndjson");
        let lines: Vec<Value> = ndjson.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines, paged);
        let (ct, csv) = exported(&app, job, "text/csv").await;
        assert!(ct.starts_with("text/csv"), "{ct}");
        let mut rows = csv.split("\r\n");
        assert_eq!(rows.next(), Some("index,caseId,outcome,code,detail,version"));
        let rows: Vec<&str> = rows.filter(|r| !r.is_empty()).collect();
        assert_eq!(rows.len(), 2_500);
        for (row, r) in rows.iter().zip(&paged) {
            let expected = format!(
                "{},{},{},{},{},{}",
                r["index"],
                r["caseId"].as_str().unwrap(),
                r["outcome"].as_str().unwrap(),
                r["error"]["code"].as_str().unwrap_or(""),
                r["error"]["detail"].as_str().map(|d| if d.contains(',') { format!("\"{}\"", d.replace('"', "\"\"")) } else { d.to_owned() }).unwrap_or_default(),
                r["version"].as_u64().map(|v| v.to_string()).unwrap_or_default(),
            );
            assert_eq!(*row, expected);
        }
        assert!(paged.iter().any(|r| r["error"]["code"] == "case_not_found"));
        // Only the failed ones, when asked.
        let res = app
            .http
            .get(format!("{}/api/v1/jobs/{job}/results?outcome=failed", app.base))
            .header("accept", "application/x-ndjson")
            .send()
            .await
            .unwrap();
        let failed = res.text().await.unwrap().lines().count() as u64;
        assert_eq!(failed, done["failed"].as_u64().unwrap());
    }
}

backend_test! {
    async fn a_bulk_delete_by_ids_or_filter_deletes_cases_with_their_history_and_says_so_in_the_feed() {
        let app = spawn_app().await;
        let keep = case(&app, "Open", &[], None).await;
        let doomed: Vec<String> = {
            let mut v = Vec::new();
            for _ in 0..3 {
                v.push(case(&app, "Open", &["old"], None).await);
            }
            v
        };
        let (s, _, _) = app
            .send_json("POST", &format!("/api/v1/cases/{}/tasks", doomed[0]), &json!({"title": "t"}))
            .await;
        assert_eq!(s, 201);
        // Read once, so a cache holds it.
        app.client.get_case(&doomed[0]).await.unwrap();
        let before = everything(&app).await;
        let delete = |body: Value| {
            let app = &app;
            async move { app.send_json("POST", "/api/v1/cases/bulk-delete", &body).await }
        };
        // A dry run deletes nothing.
        let (s, _, dry) = delete(json!({"caseIds": [doomed[0], "CASE-999999"], "options": {"dryRun": true, "waitForCompletion": true}})).await;
        assert_eq!(s, 200, "{dry}");
        assert_eq!((dry["type"].as_str(), dry["succeeded"].as_u64(), dry["failed"].as_u64()), (Some("bulk-delete"), Some(1), Some(1)), "{dry}");
        assert_eq!(everything(&app).await, before);
        // Request-level refusals create nothing.
        for (body, status) in [
            (json!({"caseIds": []}), 422),
            (json!({"caseIds": [keep, keep]}), 422),
            (json!({"caseIds": [keep], "filter": {"tag": "old"}}), 422),
            (json!({"filter": {"tag": "old"}, "options": {"expectedCount": 2}}), 409),
            (json!({"ids": [keep]}), 400),
        ] {
            let (s, _, p) = delete(body.clone()).await;
            assert_eq!(s, status, "{body}: {p}");
        }
        let (s, _, first) = delete(json!({"caseIds": [doomed[0], "CASE-999999"], "options": {"waitForCompletion": true}})).await;
        assert_eq!(s, 200, "{first}");
        assert_eq!((first["succeeded"].as_u64(), first["failed"].as_u64()), (Some(1), Some(1)));
        assert_eq!(first["results"][1]["error"]["code"], "case_not_found");
        let (s, _, _) = app.raw("GET", &format!("/api/v1/cases/{}", doomed[0]), None).await;
        assert_eq!(s, 404, "the deleted case is still read (from a cache?)");
        let (s, _, _) = app.raw("GET", &format!("/api/v1/cases/{}/history", doomed[0]), None).await;
        assert_eq!(s, 404);
        let (s, _, by_filter) = delete(json!({"filter": {"tag": "old"}, "options": {"expectedCount": 2, "waitForCompletion": true}})).await;
        assert_eq!(s, 200, "{by_filter}");
        assert_eq!(by_filter["succeeded"], 2);
        assert_eq!(listed(&app, "sort=createdAt").await, std::slice::from_ref(&keep));
        // The feed says each deletion, with its job.
        let (_, _, feed) = app
            .raw("GET", &format!("/api/v1/changes?after={}&types=case.deleted", before.1), None)
            .await;
        let deleted: Vec<(&str, &str)> = feed["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["caseId"].as_str().unwrap(), c["jobId"].as_str().unwrap()))
            .collect();
        assert_eq!(deleted.len(), 3, "{feed}");
        assert_eq!(deleted[0], (doomed[0].as_str(), first["jobId"].as_str().unwrap()));
        let (s, h, p) = app
            .raw("POST", &format!("/api/v1/jobs/{}/revert", first["jobId"].as_str().unwrap()), None)
            .await;
        assert_problem(s, &h, &p, 422, "validation_failed");
    }
}
