//! The change feed (`/api/v1/changes`, its event stream) and case deletion: every write
//! recorded once, in commit order, with the case after it; filters, long-poll, resume,
//! retention's 410.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

/// Every change after `after` (following `nextAfter` to the end).
pub async fn read_all(app: &TestApp, after: &str, filter: &str) -> (Vec<Value>, String) {
    let mut items = Vec::new();
    let mut cursor = after.to_owned();
    loop {
        let (s, _, page) = app
            .raw(
                "GET",
                &format!("/api/v1/changes?after={cursor}&limit=1000{filter}"),
                None,
            )
            .await;
        assert_eq!(s, 200, "{page}");
        let got = page["items"].as_array().unwrap().clone();
        cursor = page["nextAfter"].as_str().unwrap().to_owned();
        if got.is_empty() {
            return (items, cursor);
        }
        items.extend(got);
    }
}

fn types(items: &[Value]) -> Vec<&str> {
    items.iter().map(|c| c["type"].as_str().unwrap()).collect()
}

fn position(c: &Value) -> i64 {
    c["position"].as_str().unwrap().parse().unwrap()
}

backend_test! {
    async fn every_write_is_in_the_feed_once_in_commit_order_with_the_case_after_it() {
        let app = spawn_app().await;
        let (s, _, _) = app
            .send_json("POST", "/api/v1/cases", &json!({"caseId": "F-1", "title": "One", "tags": ["a"]}))
            .await;
        assert_eq!(s, 201);
        app.create(json!({"caseId": "F-2", "title": "Two"})).await;
        let (s, h, _) = app
            .send_json("PATCH", "/api/v1/cases/F-1", &json!({"status": "Open", "priority": "High"}))
            .await;
        assert_eq!(s, 200);
        let token = h["x-consistency-token"].to_str().unwrap().to_owned();
        let (s, _, task) = app
            .send_json("POST", "/api/v1/cases/F-1/tasks", &json!({"title": "call back"}))
            .await;
        assert_eq!(s, 201, "{task}");
        let task_id = task["taskId"].as_str().unwrap();
        let (s, _, _) = app
            .send_json("PATCH", &format!("/api/v1/cases/F-1/tasks/{task_id}"), &json!({"status": "done"}))
            .await;
        assert_eq!(s, 200);
        let (s, _, job) = app
            .send_json(
                "POST",
                "/api/v1/cases/bulk-update",
                &json!([{"caseId": "F-1", "status": "In Progress"}, {"caseId": "F-2", "assignee": "ann"}, {"caseId": "NOPE", "priority": "Low"}]),
            )
            .await;
        assert_eq!(s, 200, "{job}");
        let job_id = job["jobId"].as_str().unwrap().to_owned();
        app.wait_job(&job_id).await;
        let (s, _, _) = app.raw("DELETE", "/api/v1/cases/F-2", None).await;
        assert_eq!(s, 204);

        let (items, next) = read_all(&app, "0", "").await;
        assert_eq!(
            types(&items),
            [
                "case.created", "case.created", "case.updated", "task.created", "task.updated",
                "case.updated", "case.updated", "job.completed", "case.deleted"
            ]
        );
        // Positions rise strictly; the cursor ends at the last one.
        let positions: Vec<i64> = items.iter().map(position).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
        assert_eq!(next, positions.last().unwrap().to_string());
        // The change carries the case after it, the fields it changed, and who did it.
        let created = &items[0];
        assert_eq!((created["caseId"].as_str(), created["version"].as_u64()), (Some("F-1"), Some(1)));
        assert_eq!(created["case"]["tags"], json!(["a"]));
        let patched = &items[2];
        assert_eq!(patched["version"], 2);
        assert_eq!(patched["case"]["status"], "Open");
        let fields: Vec<&str> = patched["changes"].as_array().unwrap().iter().map(|c| c["field"].as_str().unwrap()).collect();
        assert_eq!(fields, ["status", "priority"]);
        assert_eq!(patched["changes"][0], json!({"field": "status", "from": "New", "to": "Open"}));
        assert_eq!(patched["actor"], "api");
        // A position is a consistency token: the write's token names the same commit.
        assert_eq!(token.trim_start_matches('c'), patched["position"].as_str().unwrap());
        // Tasks move the case's version (openTasks) and name the task.
        assert_eq!((items[3]["taskId"].as_str(), items[3]["version"].as_u64()), (Some(task_id), Some(3)));
        assert_eq!(items[3]["case"]["openTasks"], 1);
        assert_eq!(items[4]["changes"], json!([{"field": "status", "from": "open", "to": "done"}]));
        assert_eq!(items[4]["case"]["openTasks"], 0);
        // The job's items are case.updated with its id; its end is a job event.
        for c in &items[5..7] {
            assert_eq!(c["jobId"].as_str(), Some(job_id.as_str()));
        }
        assert_eq!(items[5]["case"]["status"], "In Progress");
        let end = &items[7];
        assert_eq!((end["jobId"].as_str(), end.get("caseId")), (Some(job_id.as_str()), None));
        assert_eq!((end["job"]["status"].as_str(), end["job"]["failed"].as_u64()), (Some("completed"), Some(1)));
        // The deletion: the case's last version plus one, and no case.
        let deleted = &items[8];
        assert_eq!((deleted["caseId"].as_str(), deleted["version"].as_u64()), (Some("F-2"), Some(3)));
        assert!(deleted.get("case").is_none());
        // Every case's changes come in version order.
        for id in ["F-1", "F-2"] {
            let versions: Vec<u64> = items.iter().filter(|c| c["caseId"] == id).map(|c| c["version"].as_u64().unwrap()).collect();
            assert!(versions.windows(2).all(|w| w[1] == w[0] + 1), "{id}: {versions:?}");
        }
        // Nothing after the end; `after` omitted starts at the oldest change.
        let (rest, _) = read_all(&app, &next, "").await;
        assert!(rest.is_empty());
        let (s, _, page) = app.raw("GET", "/api/v1/changes?limit=2", None).await;
        assert_eq!(s, 200);
        assert_eq!(page["items"][0]["position"], items[0]["position"]);
        assert_eq!(page["nextAfter"], items[1]["position"]);
    }
}

backend_test! {
    async fn a_chunk_of_hundreds_of_items_records_each_change_once_with_its_own_case() {
        // More items than one statement records at once (SQLite: runs of 64; PostgreSQL:
        // the cases' UPDATE that writes their changes), with comments between them and
        // items whose only change is a comment.
        let app = spawn_app().await;
        let mut cases = Vec::new();
        for i in 0..150 {
            cases.push(app.create(json!({"title": format!("case {i}")})).await);
        }
        let (_, before) = read_all(&app, "0", "").await;
        let items: Vec<Value> = cases
            .iter()
            .enumerate()
            .map(|(i, c)| match i % 3 {
                0 => json!({"caseId": c.case_id, "priority": "High", "comment": {"body": format!("note {i}")}}),
                1 => json!({"caseId": c.case_id, "priority": "Low"}),
                _ => json!({"caseId": c.case_id, "comment": {"body": format!("note {i}")}}),
            })
            .collect();
        let (s, _, job) = app.send_json("PATCH", "/api/v1/cases/bulk-update", &json!(items)).await;
        assert_eq!(s, 200, "{job}");
        let job_id = job["jobId"].as_str().unwrap().to_owned();
        let done = app.wait_job(&job_id).await;
        assert_eq!(done["succeeded"], 150, "{done}");

        let (feed, _) = read_all(&app, &before, "").await;
        let positions: Vec<i64> = feed.iter().map(position).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
        let (end, changes) = feed.split_last().unwrap();
        assert_eq!(end["type"], "job.completed");
        // One transaction's changes: consecutive positions.
        let span = positions[changes.len() - 1] - positions[0] + 1;
        assert_eq!(span, i64::try_from(changes.len()).unwrap(), "{positions:?}");
        for (i, c) in cases.iter().enumerate() {
            let mine: Vec<&Value> = changes.iter().filter(|x| x["caseId"] == c.case_id.as_str()).collect();
            let kinds: Vec<&str> = mine.iter().map(|x| x["type"].as_str().unwrap()).collect();
            let expected: &[&str] = match i % 3 {
                0 => &["case.updated", "comment.created"],
                1 => &["case.updated"],
                _ => &["comment.created"],
            };
            assert_eq!(kinds, expected, "{}", c.case_id);
            for x in mine {
                // Each change shows its own case, after the item: not a neighbour's row.
                assert_eq!(x["case"]["caseId"], c.case_id.as_str());
                assert_eq!(x["case"]["title"], format!("case {i}"));
                assert_eq!(x["version"].as_u64(), Some(c.version + 1), "{x}");
                assert_eq!(x["case"]["commentCount"], u64::from(i % 3 != 1));
                assert_eq!(x["jobId"].as_str(), Some(job_id.as_str()));
            }
        }
        let updated = changes.iter().find(|x| x["caseId"] == cases[1].case_id.as_str()).unwrap();
        assert_eq!(updated["changes"], json!([{"field": "priority", "from": "Medium", "to": "Low"}]));
        assert_eq!(updated["case"]["priority"], "Low");
    }
}

backend_test! {
    async fn a_bulk_change_shows_its_case_as_the_job_left_it_after_later_writes_a_delete_and_a_new_case_of_that_id() {
        // SQLite keeps a bulk job's change without a copy of its case and rebuilds the
        // case when the feed reads it: from the case as it is, undoing later history.
        let app = spawn_app().await;
        let created = json!({"caseId": "T-1", "title": "first", "tags": ["a"], "fields": {"region": "eu"}});
        app.create(created.clone()).await;
        // Two items: PostgreSQL writes a chunk of one case as a single update does.
        app.create(json!({"caseId": "T-2", "title": "other"})).await;
        let item = json!([{"caseId": "T-1", "priority": "High", "assignee": "ann",
                           "tagsAdd": ["b"], "fields": {"region": "us", "extra": 1}},
                          {"caseId": "T-2", "priority": "High"}]);
        let (s, _, job) = app.send_json("PATCH", "/api/v1/cases/bulk-update", &item).await;
        assert_eq!(s, 200, "{job}");
        app.wait_job(job["jobId"].as_str().unwrap()).await;
        let later = json!({"title": "second", "assignee": null, "priority": "Low",
                           "fields": {"region": "apac", "extra": null}, "tags": []});
        let (s, _, _) = app.send_json("PATCH", "/api/v1/cases/T-1", &later).await;
        assert_eq!(s, 200);
        let check = |feed: &[Value]| {
            let job_change = feed
                .iter()
                .find(|c| c["type"] == "case.updated" && c["jobId"].is_string())
                .unwrap_or_else(|| panic!("{feed:?}"));
            let case = &job_change["case"];
            assert_eq!(job_change["version"], 2, "{job_change}");
            assert_eq!(case["version"], 2, "{job_change}");
            assert_eq!(case["title"], "first", "{job_change}");
            assert_eq!(case["priority"], "High", "{job_change}");
            assert_eq!(case["assignee"], "ann", "{job_change}");
            assert_eq!(case["tags"], json!(["a", "b"]), "{job_change}");
            assert_eq!(case["fields"], json!({"region": "us", "extra": 1}), "{job_change}");
            let fields: Vec<&str> = job_change["changes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["field"].as_str().unwrap())
                .collect();
            assert_eq!(fields.len(), 5, "{job_change}");
            for f in ["priority", "assignee", "tags", "fields.region", "fields.extra"] {
                assert!(fields.contains(&f), "{f}: {job_change}");
            }
            let region = job_change["changes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|d| d["field"] == "fields.region")
                .unwrap();
            assert_eq!(region["from"], "eu");
            assert_eq!(region["to"], "us");
            let patch = feed
                .iter()
                .find(|c| c["type"] == "case.updated" && c["version"] == 3)
                .unwrap();
            assert_eq!(patch["case"]["title"], "second");
            assert_eq!(patch["case"]["fields"], json!({"region": "apac"}));
        };
        let (feed, _) = read_all(&app, "0", "&caseId=T-1").await;
        check(&feed);
        // Deleted, then a new case of the same id: the job's change is still about the
        // case it changed.
        let (s, _, _) = app.raw("DELETE", "/api/v1/cases/T-1", None).await;
        assert_eq!(s, 204);
        app.create(json!({"caseId": "T-1", "title": "third"})).await;
        let (feed, _) = read_all(&app, "0", "&caseId=T-1").await;
        check(&feed);
        assert_eq!(
            types(&feed),
            ["case.created", "case.updated", "case.updated", "case.deleted", "case.created"]
        );
        assert_eq!(feed[4]["case"]["title"], "third");
    }
}

backend_test! {
    async fn a_deleted_case_kept_for_its_bulk_changes_is_forgotten_with_them() {
        let app = spawn_app().await;
        for id in ["K-1", "K-2"] {
            app.create(json!({"caseId": id, "title": id})).await;
        }
        let items = json!([{"caseId": "K-1", "priority": "High"}, {"caseId": "K-2", "priority": "High"}]);
        let (s, _, job) = app.send_json("PATCH", "/api/v1/cases/bulk-update", &items).await;
        assert_eq!(s, 200, "{job}");
        app.wait_job(job["jobId"].as_str().unwrap()).await;
        let (s, _, _) = app.raw("DELETE", "/api/v1/cases/K-1", None).await;
        assert_eq!(s, 204);
        // The job's change of K-1 still shows the case; the store keeps it for that.
        assert_eq!(app.count_in_store("SELECT count(*) FROM deleted_cases").await, 1);
        let (feed, _) = read_all(&app, "0", "&caseId=K-1&types=case.updated").await;
        assert_eq!(feed[0]["case"]["title"], "K-1");
        assert_eq!(feed[0]["case"]["priority"], "High");
        // Once retention has forgotten the changes up to the deletion, the kept case and
        // its history go too.
        let (s, _, _) = app.send_json("PATCH", "/api/v1/settings", &json!({"Changes.Retention": 60})).await;
        assert_eq!(s, 200);
        app.clock.advance(Duration::from_secs(120));
        app.create(json!({"caseId": "K-3", "title": "t"})).await;
        assert!(app.state.engine.purge_expired_changes().await.unwrap() >= 6);
        assert_eq!(app.count_in_store("SELECT count(*) FROM deleted_cases").await, 0);
        assert_eq!(app.count_in_store("SELECT count(*) FROM case_history WHERE case_seq < 0").await, 0);
        // K-2's history is its own, and stays.
        let (s, _, history) = app.raw("GET", "/api/v1/cases/K-2/history", None).await;
        assert_eq!(s, 200, "{history}");
        assert_eq!(history["items"].as_array().map(Vec::len), Some(1), "{history}");
    }
}

backend_test! {
    async fn the_feed_filters_by_type_and_case_and_refuses_bad_queries() {
        let app = spawn_app().await;
        for id in ["G-1", "G-2"] {
            app.create(json!({"caseId": id, "title": "t"})).await;
            app.send_json("PATCH", &format!("/api/v1/cases/{id}"), &json!({"priority": "High"})).await;
        }
        let (items, _) = read_all(&app, "0", "&types=case.updated").await;
        assert_eq!(types(&items), ["case.updated", "case.updated"]);
        let (items, _) = read_all(&app, "0", "&caseId=G-2").await;
        assert_eq!(types(&items), ["case.created", "case.updated"]);
        assert!(items.iter().all(|c| c["caseId"] == "G-2"));
        let (items, _) = read_all(&app, "0", "&caseId=G-1&types=case.created,job.failed").await;
        assert_eq!(items.len(), 1);
        // Empty parameters are as absent.
        let (s, _, page) = app.raw("GET", "/api/v1/changes?after=&types=&caseId=", None).await;
        assert_eq!(s, 200, "{page}");
        assert_eq!(page["items"].as_array().unwrap().len(), 4);
        // A cursor past the newest change is no position the feed gave: a reader holding
        // it would pass over the changes that get those positions.
        let head = page["nextAfter"].as_str().unwrap().parse::<i64>().unwrap();
        let ahead = format!("after={}", head + 1000);
        for bad in ["after=x", "after=-1", "limit=0", "limit=1001", "types=case.exploded", "nope=1", &ahead] {
            let (s, _, p) = app.raw("GET", &format!("/api/v1/changes?{bad}"), None).await;
            assert_eq!(s, 400, "{bad}: {p}");
            assert_eq!(p["code"], "invalid_query", "{bad}");
        }
        let res = app.http.get(format!("{}/api/v1/changes/stream", app.base)).header("Last-Event-ID", (head + 1000).to_string()).send().await.unwrap();
        assert_eq!(res.status(), 400);
        let p: Value = res.json().await.unwrap();
        assert_eq!((p["code"].as_str(), p["errors"][0]["field"].as_str()), (Some("invalid_query"), Some("Last-Event-ID")), "{p}");
        // The newest position itself is a cursor; a longer wait than the server's
        // long-poll limit is capped, not refused (here it has changes to answer with).
        let (s, _, p) = app.raw("GET", &format!("/api/v1/changes?after={head}"), None).await;
        assert_eq!((s, p["items"].as_array().map(Vec::len)), (200, Some(0)), "{p}");
        let (s, _, p) = app.raw("GET", "/api/v1/changes?after=0&waitSeconds=100000", None).await;
        assert_eq!((s, p["items"].as_array().map(Vec::len)), (200, Some(4)), "{p}");
    }
}

backend_test! {
    async fn a_long_poll_answers_when_a_change_commits_and_after_now_skips_the_past() {
        let app = spawn_app().await;
        app.create(json!({"caseId": "L-1", "title": "t"})).await;
        let (s, _, page) = app.raw("GET", "/api/v1/changes?after=now", None).await;
        assert_eq!(s, 200);
        assert!(page["items"].as_array().unwrap().is_empty());
        let now = page["nextAfter"].as_str().unwrap().to_owned();
        let waiter = {
            let (http, base, now) = (app.http.clone(), app.base.clone(), now.clone());
            tokio::spawn(async move {
                let res = http
                    .get(format!("{base}/api/v1/changes?after={now}&waitSeconds=30"))
                    .send()
                    .await
                    .unwrap();
                res.json::<Value>().await.unwrap()
            })
        };
        // The waiter is parked (nothing after its cursor); then a write commits.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiter.is_finished(), "the long-poll answered with nothing to say");
        app.send_json("PATCH", "/api/v1/cases/L-1", &json!({"priority": "Critical"})).await;
        let page = tokio::time::timeout(Duration::from_secs(20), waiter).await.unwrap().unwrap();
        assert_eq!(types(page["items"].as_array().unwrap()), ["case.updated"]);
        // waitSeconds with nothing to say: an empty page with the same cursor.
        let after = page["nextAfter"].as_str().unwrap();
        let (s, _, empty) = app.raw("GET", &format!("/api/v1/changes?after={after}&waitSeconds=1"), None).await;
        assert_eq!(s, 200);
        assert_eq!((empty["items"].as_array().unwrap().len(), empty["nextAfter"].as_str()), (0, Some(after)));
    }
}

backend_test! {
    async fn a_cursor_older_than_the_oldest_kept_change_gets_410() {
        let app = spawn_app().await;
        app.create(json!({"caseId": "R-1", "title": "t"})).await;
        app.create(json!({"caseId": "R-2", "title": "t"})).await;
        let (s, _, _) = app.send_json("PATCH", "/api/v1/settings", &json!({"Changes.Retention": 60})).await;
        assert_eq!(s, 200);
        // Two minutes on, by the server's clock: both changes are past retention.
        app.clock.advance(Duration::from_secs(120));
        app.create(json!({"caseId": "R-3", "title": "t"})).await;
        assert_eq!(app.state.engine.purge_expired_changes().await.unwrap(), 2);
        let (s, _, p) = app.raw("GET", "/api/v1/changes?after=0", None).await;
        assert_eq!(s, 410, "{p}");
        assert_eq!(p["code"], "cursor_expired");
        // From the oldest kept change: the one change left.
        let (s, _, page) = app.raw("GET", "/api/v1/changes", None).await;
        assert_eq!(s, 200);
        assert_eq!(page["items"].as_array().unwrap().len(), 1);
        assert_eq!(page["items"][0]["caseId"], "R-3");
        // A cursor at the purge line misses nothing.
        let first = position(&page["items"][0]) - 1;
        let (s, _, _) = app.raw("GET", &format!("/api/v1/changes?after={first}"), None).await;
        assert_eq!(s, 200);
    }
}

/// The events of an event stream, read until `n` have come.
async fn stream_events(
    app: &TestApp,
    query: &str,
    last_id: Option<&str>,
    n: usize,
) -> Vec<(String, String, Value)> {
    let mut rb = app
        .http
        .get(format!("{}/api/v1/changes/stream{query}", app.base));
    if let Some(id) = last_id {
        rb = rb.header("last-event-id", id);
    }
    let mut res = rb.send().await.unwrap();
    assert_eq!(res.status(), 200);
    let mut buf = String::new();
    let mut out = Vec::new();
    while out.len() < n {
        let chunk = tokio::time::timeout(Duration::from_secs(20), res.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let (mut id, mut event, mut data) = (String::new(), String::new(), String::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().into()
                }
                if let Some(v) = line.strip_prefix("event:") {
                    event = v.trim().into()
                }
                if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim())
                }
            }
            if !data.is_empty() {
                out.push((id, event, serde_json::from_str(&data).unwrap()));
            }
        }
    }
    out
}

backend_test! {
    async fn the_event_stream_sends_each_change_once_and_resumes_after_last_event_id() {
        let app = spawn_app().await;
        for i in 0..3 {
            app.create(json!({"caseId": format!("S-{i}"), "title": "t"})).await;
        }
        let events = stream_events(&app, "?after=0", None, 3).await;
        assert_eq!(events.iter().map(|e| e.1.as_str()).collect::<Vec<_>>(), ["case.created"; 3]);
        for (id, _, data) in &events {
            assert_eq!(data["position"].as_str(), Some(id.as_str()));
        }
        // Resume after the second: the third, then one committed while the stream waits.
        let writer = {
            let client = app.http.clone();
            let base = app.base.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                client.patch(format!("{base}/api/v1/cases/S-0")).json(&json!({"priority": "Low"})).send().await.unwrap();
            })
        };
        let resumed = stream_events(&app, "?after=0", Some(&events[1].0), 2).await;
        writer.await.unwrap();
        assert_eq!(resumed[0].0, events[2].0);
        assert_eq!((resumed[1].1.as_str(), resumed[1].2["caseId"].as_str()), ("case.updated", Some("S-0")));
    }
}

backend_test! {
    async fn a_deleted_case_is_gone_everywhere_and_if_match_guards_the_delete() {
        let app = spawn_app().await;
        app.create(json!({"caseId": "D-1", "title": "t"})).await;
        app.send_json("POST", "/api/v1/cases/D-1/tasks", &json!({"title": "x"})).await;
        // Warm this node's cache, then delete with a stale, then the current, If-Match.
        assert_eq!(app.raw("GET", "/api/v1/cases/D-1", None).await.0, 200);
        let stale = app.http.delete(format!("{}/api/v1/cases/D-1", app.base)).header("if-match", "\"1\"").send().await.unwrap();
        assert_eq!(stale.status(), 412);
        let res = app.http.delete(format!("{}/api/v1/cases/D-1", app.base)).header("if-match", "\"2\"").send().await.unwrap();
        assert_eq!(res.status(), 204);
        assert!(res.headers().get("x-consistency-token").is_some());
        let (s, _, p) = app.raw("GET", "/api/v1/cases/D-1", None).await;
        assert_eq!((s, p["code"].as_str()), (404, Some("case_not_found")));
        assert_eq!(app.raw("GET", "/api/v1/cases/D-1/tasks", None).await.0, 404);
        assert_eq!(app.raw("GET", "/api/v1/cases/D-1/history", None).await.0, 404);
        let (s, _, r) = app.send_json("POST", "/api/v1/cases/refresh-status", &json!({"caseIds": ["D-1"]})).await;
        assert_eq!(s, 200);
        assert_eq!(r["notFound"], json!(["D-1"]));
        let (s, _, p) = app.raw("DELETE", "/api/v1/cases/D-1", None).await;
        assert_eq!((s, p["code"].as_str()), (404, Some("case_not_found")));
        // The id is free again.
        let again = app.create(json!({"caseId": "D-1", "title": "new"})).await;
        assert_eq!(again.version, 1);
    }
}

/// Whether the feed holds every change the cases' own history says happened.
pub fn check_against_history(
    items: &[Value],
    histories: &std::collections::HashMap<String, (u64, usize)>,
) {
    // Exactly once: no position twice.
    let mut seen = std::collections::HashSet::new();
    for c in items {
        assert!(seen.insert(position(c)), "position {} twice", position(c));
    }
    let positions: Vec<i64> = items.iter().map(position).collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "not in position order"
    );
    for (id, (version, history_len)) in histories {
        let mine: Vec<&Value> = items
            .iter()
            .filter(|c| c["caseId"] == id.as_str())
            .collect();
        let versions: Vec<u64> = mine
            .iter()
            .map(|c| c["version"].as_u64().unwrap())
            .collect();
        // Per case: every version from 1, in order, no gap, ending at the case's own.
        let want: Vec<u64> = (1..=*version).collect();
        assert_eq!(versions, want, "{id}: the feed's versions");
        let fields: usize = mine
            .iter()
            .filter(|c| c["type"] == "case.updated")
            .map(|c| c["changes"].as_array().unwrap().len())
            .sum();
        assert_eq!(
            fields, *history_len,
            "{id}: changed fields against its history"
        );
    }
}

backend_test! {
    async fn a_consumer_tailing_the_feed_during_concurrent_writes_gets_every_change_once_in_order() {
        crate::concurrency::feed_under_concurrent_writers(1).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_postgres_nodes_writing_at_once_feed_one_consumer_every_change_once_in_order() {
    if crate::helpers::postgres_url().is_none() {
        eprintln!(
            "skipped: DOCKET_TEST_DATABASE_URL is not set, so this PostgreSQL test did not run"
        );
        return;
    }
    crate::helpers::BACKEND
        .scope(
            crate::helpers::Backend::Postgres,
            crate::concurrency::feed_under_concurrent_writers(3),
        )
        .await;
}

/// A node of a cluster: one more server on the same database as `first`.
pub async fn another_node(first: &TestApp) -> TestApp {
    let url = first.state.config.database.url.clone();
    spawn_app_with(move |c| c.database.url = url).await
}
