//! Jobs: cancel, retry-failed, long-poll, SSE, delete, retention, fairness, callbacks.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

fn demo_updates(n: usize, status: &str) -> Value {
    json!(
        (1..=n)
            .map(|i| json!({"caseId": format!("CASE-{i:06}"), "status": status}))
            .collect::<Vec<_>>()
    )
}

async fn submit(app: &TestApp, body: &Value) -> String {
    let (s, _, b) = app
        .send_json("PATCH", "/api/v1/cases/bulk-update", body)
        .await;
    assert_eq!(s, 200, "{b}");
    b["jobId"].as_str().unwrap().to_owned()
}

async fn status(app: &TestApp, id: &str) -> Value {
    app.raw("GET", &format!("/api/v1/jobs/{id}/status"), None)
        .await
        .2
}

backend_test! {
    async fn cancel_mid_job_keeps_applied_items_and_cancels_the_rest() {
        let app = spawn_app_with(|c| {
            c.settings.chunk_size = 20;
            c.settings.max_items_per_request = 20_000;
            c.jobs.chunk_group_ms = 0;
        })
        .await;
        app.seed(5_000).await;
        let job = submit(&app, &demo_updates(5_000, "Cancelled")).await;
        // Wait until some chunks are applied, then cancel.
        for _ in 0..2000 {
            if status(&app, &job).await["processed"].as_u64().unwrap() > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let (s, _, st) = app
            .raw("POST", &format!("/api/v1/jobs/{job}/cancel"), None)
            .await;
        assert_eq!(s, 200, "{st}");
        assert_eq!(st["status"], "cancelled");
        let processed = st["processed"].as_u64().unwrap();
        assert!(processed > 0 && processed < 5_000, "processed {processed}");
        assert_eq!(st["cancelled"].as_u64().unwrap(), 5_000 - processed);
        assert_eq!(st["outcome"], "partial");
        let (_, _, cancelled) = app
            .raw(
                "GET",
                &format!("/api/v1/jobs/{job}/results?outcome=cancelled&limit=1"),
                None,
            )
            .await;
        let first = cancelled["items"][0]["index"].as_u64().unwrap();
        assert_eq!(
            first, processed,
            "items after the last applied chunk are cancelled"
        );
        // Applied items stay applied; the rest were not touched.
        assert_eq!(
            app.client
                .get_case("CASE-000001")
                .await
                .unwrap()
                .body
                .status,
            "Cancelled"
        );
        assert_eq!(
            app.client
                .get_case("CASE-005000")
                .await
                .unwrap()
                .body
                .version,
            1
        );
        let (s, _, b) = app
            .raw("POST", &format!("/api/v1/jobs/{job}/cancel"), None)
            .await;
        assert_eq!((s, b["code"].as_str()), (409, Some("job_finished")));
    }
}

backend_test! {
    async fn retry_failed_runs_a_new_job_with_only_the_failed_items() {
        let app = spawn_app().await;
        app.seed(3).await;
        let body = json!({"updates": [
            {"caseId": "CASE-000001", "priority": "Low"}, {"caseId": "LATE-1", "priority": "Low"}, {"caseId": "LATE-2", "priority": "Low"}
        ], "options": {"waitForCompletion": true}});
        let (_, _, job) = app
            .send_json("PATCH", "/api/v1/cases/bulk-update", &body)
            .await;
        assert_eq!(job["failed"], 2);
        let parent = job["jobId"].as_str().unwrap();
        app.create(json!({"caseId": "LATE-1", "title": "t"})).await;
        app.create(json!({"caseId": "LATE-2", "title": "t"})).await;
        let (s, _, retry) = app
            .raw("POST", &format!("/api/v1/jobs/{parent}/retry-failed"), None)
            .await;
        assert_eq!(s, 200, "{retry}");
        assert_eq!(retry["queued"], 2);
        let done = app.wait_job(retry["jobId"].as_str().unwrap()).await;
        assert_eq!(done["outcome"], "succeeded");
        assert_eq!(done["parentJobId"], parent);
        assert_eq!(
            app.client.get_case("LATE-2").await.unwrap().body.priority,
            "Low"
        );
        let (s, _, b) = app
            .raw(
                "POST",
                &format!(
                    "/api/v1/jobs/{}/retry-failed",
                    done["jobId"].as_str().unwrap()
                ),
                None,
            )
            .await;
        assert_eq!((s, b["code"].as_str()), (422, Some("no_failed_items")));
    }
}

backend_test! {
    async fn long_poll_answers_when_the_job_ends() {
        let app = spawn_app().await;
        app.seed(200).await;
        let job = submit(&app, &demo_updates(200, "Cancelled")).await;
        let started = Instant::now();
        let (s, h, st) = app
            .raw(
                "GET",
                &format!("/api/v1/jobs/{job}/status?waitSeconds=20"),
                None,
            )
            .await;
        assert_eq!(s, 200);
        assert_eq!(st["status"], "completed", "{st}");
        assert!(h.get("retry-after").is_none());
        assert!(started.elapsed() < Duration::from_secs(20));
        let (_, _, full) = app.raw("GET", &format!("/api/v1/jobs/{job}"), None).await;
        assert_eq!(full["results"].as_array().unwrap().len(), 50);
        assert!(full["resultsNextCursor"].is_string());
    }
}

backend_test! {
    async fn sse_stream_ends_with_one_event_named_after_the_end_state() {
        let app = spawn_app_with(|c| c.settings.chunk_size = 50).await;
        app.seed(1_000).await;
        let job = submit(&app, &demo_updates(1_000, "Cancelled")).await;
        let res = app
            .http
            .get(format!("{}/api/v1/jobs/{job}/events", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200);
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        let text = tokio::time::timeout(Duration::from_secs(60), res.text())
            .await
            .unwrap()
            .unwrap();
        let events: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("event: "))
            .collect();
        assert_eq!(events.last(), Some(&"completed"), "{text}");
        assert_eq!(events.iter().filter(|e| **e == "completed").count(), 1);
        assert!(events[..events.len() - 1].iter().all(|e| *e == "progress"));
        let last_data = text
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .next_back()
            .unwrap();
        let last: Value = serde_json::from_str(last_data).unwrap();
        assert_eq!(last["processed"], 1_000);
    }
}

backend_test! {
    async fn finished_jobs_can_be_deleted_and_expire_after_retention() {
        let app = spawn_app_with(|c| {
            c.settings.retention = 1;
            c.jobs.retention_sweep_ms = 100;
        })
        .await;
        app.seed(2).await;
        let a = submit(&app, &demo_updates(1, "Pending")).await;
        app.wait_job(&a).await;
        let (s, _, _) = app.raw("DELETE", &format!("/api/v1/jobs/{a}"), None).await;
        assert_eq!(s, 204);
        let (s, _, b) = app
            .raw("GET", &format!("/api/v1/jobs/{a}/status"), None)
            .await;
        assert_eq!((s, b["code"].as_str()), (404, Some("job_not_found")));
        let b_id = submit(&app, &demo_updates(2, "Open")).await;
        app.wait_job(&b_id).await;
        // Past the retention by the server's clock: gone at once, and purged by the
        // sweeper's next pass.
        app.clock.advance(Duration::from_millis(1_001));
        let (s, _, _) = app.raw("GET", &format!("/api/v1/jobs/{b_id}"), None).await;
        assert_eq!(s, 404);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while app.job_count().await > 0 {
            assert!(std::time::Instant::now() < deadline, "the sweeper did not purge the job");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

backend_test! {
    async fn a_small_job_is_not_stuck_behind_a_big_one() {
        let app = spawn_app_with(|c| {
            c.settings.chunk_size = 100;
            c.settings.max_items_per_request = 50_000;
        })
        .await;
        app.seed(30_000).await;
        let big = submit(&app, &demo_updates(30_000, "Cancelled")).await;
        for _ in 0..2000 {
            if status(&app, &big).await["status"] == "running" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let small: Vec<Value> = (29_901..=30_000)
            .map(|i| json!({"caseId": format!("CASE-{i:06}"), "priority": "Critical"}))
            .collect();
        let small = submit(&app, &json!(small)).await;
        let done = app.wait_job(&small).await;
        assert_eq!(done["status"], "completed");
        let big_now = status(&app, &big).await;
        assert_eq!(
            big_now["status"], "running",
            "the big job finished first: {big_now}"
        );
        assert!(big_now["processed"].as_u64().unwrap() < 30_000);
    }
}

mod callbacks {
    use super::*;
    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode};
    use std::sync::{Arc, Mutex};

    const SECRET: &str = "test-callback-secret";

    backend_test! {
        async fn callback_is_retried_until_accepted_and_every_attempt_is_recorded() {
            // A receiver that answers 500 twice, then 200, and checks each signature.
            let seen: Arc<Mutex<Vec<(bool, String, Value)>>> = Arc::default();
            let record = seen.clone();
            let receiver = axum::Router::new().route(
                "/hook",
                axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                    let record = record.clone();
                    async move {
                        let sig = headers["x-docket-signature"].to_str().unwrap().to_owned();
                        let ok = docket_server::engine::callbacks::verify(SECRET, &sig, &body);
                        let delivery = headers["x-docket-delivery"].to_str().unwrap().to_owned();
                        let mut r = record.lock().unwrap();
                        r.push((ok, delivery, serde_json::from_slice(&body).unwrap()));
                        if r.len() <= 2 {
                            StatusCode::INTERNAL_SERVER_ERROR
                        } else {
                            StatusCode::OK
                        }
                    }
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let hook = format!("http://{}/hook", listener.local_addr().unwrap());
            tokio::spawn(async move { axum::serve(listener, receiver).await });

            let app = spawn_app_with(|c| {
                c.callbacks.secret = Some(SECRET.into());
                c.callbacks.initial_backoff_ms = 50;
                // The receiver is on loopback, refused unless listed.
                c.callbacks.allowed_hosts = vec!["127.0.0.1".into()];
            })
            .await;
            app.seed(3).await;
            let body = json!({"updates": [{"caseId": "CASE-000001", "status": "Pending"}], "options": {"callbackUrl": hook}});
            let job = submit(&app, &body).await;
            app.wait_job(&job).await;
            let mut view = Value::Null;
            for _ in 0..200 {
                view = app
                    .raw("GET", &format!("/api/v1/jobs/{job}/callbacks"), None)
                    .await
                    .2;
                if view["items"][0]["state"] == "delivered" {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            let d = &view["items"][0];
            assert_eq!(d["state"], "delivered", "{view}");
            assert_eq!(d["event"], "job.completed");
            let codes: Vec<u64> = d["attempts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["statusCode"].as_u64().unwrap())
                .collect();
            assert_eq!(codes, [500, 500, 200]);
            let seen = seen.lock().unwrap().clone();
            assert_eq!(seen.len(), 3);
            assert!(
                seen.iter().all(|(ok, _, _)| *ok),
                "a signature did not verify"
            );
            assert!(
                seen.iter()
                    .all(|(_, id, _)| id == d["deliveryId"].as_str().unwrap()),
                "one delivery id across retries"
            );
            assert_eq!(seen[2].2["event"], "job.completed");
            assert_eq!(seen[2].2["job"]["jobId"], job.as_str());
            assert_eq!(seen[2].2["job"]["status"], "completed");
            // Redeliver sends it once more.
            let (s, h, _) = app
                .raw(
                    "POST",
                    &format!("/api/v1/jobs/{job}/callbacks/redeliver"),
                    None,
                )
                .await;
            assert_eq!(s, 202);
            assert!(h.contains_key("x-consistency-token"), "{h:?}");
            for _ in 0..200 {
                view = app
                    .raw("GET", &format!("/api/v1/jobs/{job}/callbacks"), None)
                    .await
                    .2;
                if view["items"][0]["attempts"].as_array().unwrap().len() == 4
                    && view["items"][0]["state"] == "delivered"
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            assert_eq!(
                view["items"][0]["attempts"].as_array().unwrap().len(),
                4,
                "{view}"
            );
        }
    }
}

/// `docket_job_status_reads_total` from `/metrics`.
async fn job_status_reads(base: &str) -> u64 {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("docket_job_status_reads_total "))
        .expect("docket_job_status_reads_total is not in /metrics")
        .trim()
        .parse()
        .unwrap()
}

backend_test! {
    async fn fifty_event_streams_on_one_job_share_one_store_read_per_change() {
        use docket_server::domain::Timestamp;
        use docket_server::store::{Claim, FinishDrained, NewJob, SubmitLimits};
        const ITEMS: usize = 20;
        const STREAMS: usize = 50;
        let dir = tempfile::tempdir().unwrap();
        let mut config = docket_server::config::Config::default();
        config.server.bind = "127.0.0.1:0".into();
        config.database.url = crate::helpers::fresh_database_url(dir.path());
        let server = docket_server::Server::build(config).await.unwrap();
        let state = server.state().clone();
        let store = state.engine.store.clone();
        docket_server::demo::seed(store.as_ref(), &state.workflow, ITEMS as u64, 100).await.unwrap();
        // A job this test runs itself, a chunk at a time, signalling each change as a
        // worker would: its workers never get it (the claim holds for a minute).
        let now = Timestamp::now();
        let job = NewJob {
            id: docket_server::domain::new_job_id(),
            items: (1..=ITEMS)
                .map(|i| {
                    let id = format!("CASE-{i:06}");
                    let item = json!({"caseId": id, "status": "Cancelled"}).to_string();
                    (id, item)
                })
                .collect(),
            kind: Default::default(),
            by_filter: None,
            template: None,
            dry_run: false,
            revert_of: None,
            upsert_by: None,
            atomic: false,
            callback_url: None,
            parent_id: None,
            idempotency: None,
            actor: "test".into(),
            created_at: now,
        };
        let id = job.id.clone();
        let limits = SubmitLimits { max_queued_items: 1000, idempotency_since: Timestamp(0) };
        store.submit_job(job, limits).await.unwrap();
        let claim = || Claim {
            owner: "elsewhere".into(),
            now: Timestamp::now(),
            lease_until: Timestamp(now.0 + 60_000),
            chunk_size: 1,
            group: std::time::Duration::ZERO,
            finish: FinishDrained::Never,
            before_commit: None,
            clock: std::sync::Arc::new(Timestamp::now),
        };
        store.run_chunk(&id, claim()).await.unwrap();
        let base = format!("http://{}", server.local_addr().unwrap());
        tokio::spawn(server.run(std::future::pending()));
        let http = reqwest::Client::new();
        let streams = futures_util::future::join_all((0..STREAMS).map(|_| {
            http.get(format!("{base}/api/v1/jobs/{id}/events")).send()
        }))
        .await;
        let before = job_status_reads(&base).await;
        // Every stream is subscribed (its head is here): now the job moves.
        let mut changes = 0;
        for _ in 1..ITEMS {
            tokio::time::sleep(Duration::from_millis(50)).await;
            store.run_chunk(&id, claim()).await.unwrap();
            state.engine.hub.publish(&id);
            changes += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        store.finish_job(&id, Timestamp::now()).await.unwrap();
        state.engine.hub.publish(&id);
        changes += 1;
        let texts = futures_util::future::join_all(streams.into_iter().map(|r| async move {
            tokio::time::timeout(Duration::from_secs(30), r.unwrap().text()).await.unwrap().unwrap()
        }))
        .await;
        let reads = job_status_reads(&base).await - before;
        eprintln!("{STREAMS} streams, {changes} changes: {reads} job reads from the store");
        for text in &texts {
            // Every stream saw every change: each processed count once, in order, then
            // the end (with the last count again).
            let ids: Vec<u64> = text
                .lines()
                .filter_map(|l| l.strip_prefix("id: "))
                .map(|n| n.parse().unwrap())
                .collect();
            let expected: Vec<u64> = (1..=ITEMS as u64).chain([ITEMS as u64]).collect();
            assert_eq!(ids, expected, "{text}");
            let events: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("event: ")).collect();
            assert_eq!(events.last(), Some(&"completed"), "{text}");
        }
        assert!(
            reads <= 2 * changes + STREAMS as u64,
            "{reads} job reads for {changes} changes and {STREAMS} streams"
        );
    }
}

backend_test! {
    async fn a_node_with_no_workers_runs_a_job_only_when_a_test_steps_it() {
        let app = spawn_app_with(|c| {
            c.jobs.workers = 0;
            c.jobs.chunk_group_ms = 0;
            c.settings.chunk_size = 2;
        })
        .await;
        app.seed(5).await;
        let id = submit(&app, &demo_updates(5, "Pending")).await;
        let st = status(&app, &id).await;
        assert_eq!((st["status"].as_str(), st["processed"].as_u64()), (Some("queued"), Some(0)));
        // One step: one chunk of two items.
        let engine = &app.state.engine;
        let tick = engine.step().await.unwrap();
        assert_eq!(tick, docket_server::engine::worker::Tick::Worked);
        let st = status(&app, &id).await;
        assert_eq!((st["status"].as_str(), st["processed"].as_u64()), (Some("running"), Some(2)));
        // The rest: two more chunks (the last completes the job), then nothing to do.
        assert_eq!(engine.run_until_idle().await.unwrap(), 2);
        let st = status(&app, &id).await;
        assert_eq!((st["status"].as_str(), st["processed"].as_u64()), (Some("completed"), Some(5)));
        assert_eq!(engine.run_until_idle().await.unwrap(), 0);
    }
}

/// SQLite groups a job's chunks: with nothing else writing, one step goes on past its
/// chunk in the same transaction; a write that waits for the database stops it at the
/// end of the chunk in progress.
#[tokio::test]
async fn a_sqlite_step_ends_with_its_chunk_once_the_server_is_stopping() {
    let app = spawn_app_with(|c| {
        c.jobs.workers = 0;
        c.jobs.chunk_group_ms = 600_000;
        c.settings.chunk_size = 20;
    })
    .await;
    app.seed(400).await;
    let id = submit(&app, &demo_updates(400, "Pending")).await;
    let engine = app.state.engine.clone();
    // Stopping: the step applies its chunk and ends there, not at the group's end.
    engine.stop();
    assert_eq!(
        engine.step().await.unwrap(),
        docket_server::engine::worker::Tick::Worked
    );
    // (The server no longer answers HTTP: read the job from the store.)
    let job = engine.store.get_job(&id).await.unwrap().unwrap();
    assert_eq!(job.processed, 20, "{job:?}");
    assert_ne!(job.state, docket_server::domain::JobState::Completed);
}

#[tokio::test]
async fn a_sqlite_step_goes_on_past_its_chunk_until_another_write_waits() {
    let app = spawn_app_with(|c| {
        c.jobs.workers = 0;
        c.jobs.chunk_group_ms = 600_000;
        c.settings.chunk_size = 20;
        c.settings.max_items_per_request = 20_000;
    })
    .await;
    let n = 4_000;
    app.seed(n).await;
    let engine = app.state.engine.clone();
    // Alone: one step applies the whole job.
    let id = submit(&app, &demo_updates(40, "Pending")).await;
    assert_eq!(
        engine.step().await.unwrap(),
        docket_server::engine::worker::Tick::Worked
    );
    let st = status(&app, &id).await;
    assert_eq!(
        (st["status"].as_str(), st["processed"].as_u64()),
        (Some("completed"), Some(40))
    );
    // With PATCHes waiting: the step ends at a chunk's end, the rest is left.
    let id = submit(&app, &demo_updates(n as usize, "Pending")).await;
    let step = tokio::spawn(async move { engine.step().await });
    let mut patches = 0;
    while !step.is_finished() {
        let title = format!("patched {patches}");
        let (s, _, b) = app
            .send_json(
                "PATCH",
                "/api/v1/cases/CASE-000001",
                &json!({"title": title}),
            )
            .await;
        assert_eq!(s, 200, "{b}");
        patches += 1;
    }
    step.await.unwrap().unwrap();
    let st = status(&app, &id).await;
    let processed = st["processed"].as_u64().unwrap();
    assert!(patches > 0);
    assert!(
        processed < n && processed % 20 == 0,
        "processed {processed} of {n}: {st}"
    );
    app.state.engine.run_until_idle().await.unwrap();
    let st = status(&app, &id).await;
    assert_eq!(
        (st["status"].as_str(), st["processed"].as_u64()),
        (Some("completed"), Some(n))
    );
}
