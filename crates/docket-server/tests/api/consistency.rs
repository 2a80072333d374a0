//! The cache and its settings: zero stale reads after `completed` under the defaults,
//! the legacy `ttl` mode really is stale (so the checks can fail), tokens and
//! refresh-status repair it, settings apply live.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};

const N: usize = 1_000;

/// `n` cases `K-0..` in `In Progress`, created through the API.
async fn cases(app: &TestApp, n: usize) -> Vec<String> {
    let body: Vec<Value> = (0..n)
        .map(|i| json!({"caseId": format!("K-{i}"), "title": "t", "status": "In Progress"}))
        .collect();
    let mut ids = Vec::new();
    for b in body {
        ids.push(app.create(b).await.case_id);
    }
    ids
}

/// Eight readers looping over every case until stopped, keeping the cache hot.
fn hot_readers(
    app: &TestApp,
    ids: &[String],
) -> (Arc<AtomicBool>, Vec<tokio::task::JoinHandle<()>>) {
    let stop = Arc::new(AtomicBool::new(false));
    let handles = (0..8)
        .map(|r| {
            let (client, ids, stop) = (app.client.clone(), ids.to_vec(), stop.clone());
            tokio::spawn(async move {
                let mut i = r;
                while !stop.load(Ordering::Relaxed) {
                    let _ = client.get_case(&ids[i % ids.len()]).await;
                    i += 7;
                }
            })
        })
        .collect();
    (stop, handles)
}

async fn warm(app: &TestApp, ids: &[String]) {
    for id in ids {
        app.client.get_case(id).await.unwrap();
    }
}

async fn stale(app: &TestApp, ids: &[String], want: &str, token: Option<&str>) -> usize {
    let mut n = 0;
    for id in ids {
        let mut rb = app.http.get(format!("{}/api/v1/cases/{id}", app.base));
        if let Some(t) = token {
            rb = rb.header("x-consistency-token", t);
        }
        let c: Value = rb.send().await.unwrap().json().await.unwrap();
        if c["status"] != want {
            n += 1;
        }
    }
    n
}

/// Bulk-moves every case to Under Review while readers keep the cache hot; returns the
/// completed status and the number of stale reads right after it.
async fn bulk_scenario(app: &TestApp) -> (Value, usize) {
    let ids = cases(app, N).await;
    warm(app, &ids).await;
    let (stop, readers) = hot_readers(app, &ids);
    let updates: Vec<Value> = ids
        .iter()
        .map(|id| json!({"caseId": id, "status": "Under Review"}))
        .collect();
    let (s, _, accepted) = app
        .send_json(
            "PATCH",
            "/api/v1/cases/bulk-update",
            &json!({"updates": updates}),
        )
        .await;
    assert_eq!(s, 200);
    let done = app.wait_job(accepted["jobId"].as_str().unwrap()).await;
    assert_eq!(done["status"], "completed");
    let n = stale(app, &ids, "Under Review", None).await;
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.await.unwrap();
    }
    (done, n)
}

backend_test! {
    async fn default_settings_zero_stale_reads_after_completed() {
        let app = spawn_app_with(|c| c.settings.chunk_size = 100).await;
        let (_, stale) = bulk_scenario(&app).await;
        assert_eq!(
            stale, 0,
            "stale reads after completed under default settings"
        );
        let hits = app.state.engine.cache.hits.load(Ordering::Relaxed);
        assert!(
            hits > 0,
            "the readers never hit the cache, so the test proved nothing"
        );
    }
}

backend_test! {
    async fn deferred_mode_zero_stale_reads_after_completed() {
        let app = spawn_app_with(|c| {
            c.settings.chunk_size = 100;
            c.settings.bulk_update_cache_invalidation =
                docket_server::engine::settings::Invalidation::Deferred;
        })
        .await;
        let (_, stale) = bulk_scenario(&app).await;
        assert_eq!(stale, 0, "stale reads after completed in deferred mode");
    }
}

backend_test! {
    async fn patch_by_case_is_read_back_fresh_with_a_hot_cache() {
        let app = spawn_app_with(|_| {}).await;
        let ids = cases(&app, 200).await;
        warm(&app, &ids).await;
        let (stop, readers) = hot_readers(&app, &ids);
        for id in &ids {
            let p = docket_api::CasePatch {
                status: Some("Under Review".into()),
                ..Default::default()
            };
            app.client.update_case(id, &p, None).await.unwrap();
        }
        assert_eq!(stale(&app, &ids, "Under Review", None).await, 0);
        stop.store(true, Ordering::Relaxed);
        for r in readers {
            r.await.unwrap();
        }
    }
}

backend_test! {
    async fn ttl_mode_is_stale_but_tokens_and_refresh_status_are_fresh() {
        let app = spawn_app_with(|c| {
            c.settings.bulk_update_cache_invalidation =
                docket_server::engine::settings::Invalidation::Ttl;
        })
        .await;
        let (done, stale_reads) = bulk_scenario(&app).await;
        assert!(
            stale_reads > 0,
            "ttl mode with a warm cache showed no stale read: the check cannot fail"
        );
        let ids: Vec<String> = (0..N).map(|i| format!("K-{i}")).collect();
        // A read carrying the job's token is fresh whatever the cache holds.
        let token = done["consistencyToken"].as_str().unwrap();
        assert_eq!(stale(&app, &ids, "Under Review", Some(token)).await, 0);
        // refresh-status reads the store and, forced, drops the cached entries.
        let (s, h, r) = app
            .send_json(
                "POST",
                "/api/v1/cases/refresh-status",
                &json!({"caseIds": ids, "forceCacheInvalidation": true}),
            )
            .await;
        assert_eq!(s, 200, "{r}");
        assert!(h.get("x-consistency-token").is_some());
        assert_eq!(r["invalidated"], N);
        assert!(
            r["cases"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["status"] == "Under Review")
        );
        assert_eq!(stale(&app, &ids, "Under Review", None).await, 0);
    }
}

backend_test! {
    async fn refresh_status_reports_missing_ids_and_limits() {
        let app = spawn_app_with(|c| c.settings.max_items_per_request = 3).await;
        cases(&app, 2).await;
        let (s, _, r) = app
            .send_json(
                "POST",
                "/api/v1/cases/refresh-status",
                &json!({"caseIds": ["K-0", "K-1", "NOPE"]}),
            )
            .await;
        assert_eq!(s, 200);
        assert_eq!(r["notFound"], json!(["NOPE"]));
        assert_eq!(r["invalidated"], 0);
        assert_eq!(r["cases"][0]["status"], "In Progress");
        let (s, _, r) = app
            .send_json(
                "POST",
                "/api/v1/cases/refresh-status",
                &json!({"caseIds": ["a", "b", "c", "d"]}),
            )
            .await;
        assert_eq!((s, r["code"].as_str()), (413, Some("payload_too_large")));
    }
}

backend_test! {
    async fn settings_are_validated_and_apply_without_restart() {
        let app = spawn_app_with(|c| {
            c.settings.bulk_update_cache_invalidation =
                docket_server::engine::settings::Invalidation::Ttl;
        })
        .await;
        let (s, _, all) = app.raw("GET", "/api/v1/settings", None).await;
        assert_eq!(s, 200);
        for key in [
            "CaseManagement.CacheTimeout",
            "CaseManagement.BulkUpdateCacheInvalidation",
            "CaseManagement.SyncStatusAfterBulkUpdate",
            "Jobs.MaxItemsPerRequest",
            "Jobs.ChunkSize",
            "Jobs.Retention",
        ] {
            assert!(all.get(key).is_some(), "{key} missing from {all}");
        }
        let (s, _, b) = app
            .send_json("PATCH", "/api/v1/settings", &json!({"Jobs.ChunkSize": 0}))
            .await;
        assert_eq!((s, b["code"].as_str()), (422, Some("validation_failed")));
        assert_eq!(b["errors"][0]["field"], "Jobs.ChunkSize");
        let (s, _, b) = app
            .send_json(
                "PATCH",
                "/api/v1/settings",
                &json!({"CaseManagement.BulkUpdateCacheInvalidation": "sometimes"}),
            )
            .await;
        assert_eq!(
            (s, b["errors"][0]["field"].as_str()),
            (422, Some("CaseManagement.BulkUpdateCacheInvalidation"))
        );
        let (s, _, b) = app
            .send_json("PATCH", "/api/v1/settings", &json!({"Cache.Size": 1}))
            .await;
        assert_eq!((s, b["code"].as_str()), (400, Some("unknown_field")));
        assert_eq!(
            app.raw("GET", "/api/v1/settings", None).await.2,
            all,
            "a refused change changed something"
        );

        // Legacy ttl mode with a warm cache is stale after a job...
        let (_, stale_reads) = bulk_scenario(&app).await;
        assert!(stale_reads > 0);
        // ...until CacheTimeout is lowered: it takes effect at once, no restart.
        let (s, _, b) = app
            .send_json(
                "PATCH",
                "/api/v1/settings",
                &json!({"CaseManagement.CacheTimeout": 1}),
            )
            .await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["CaseManagement.CacheTimeout"], 1);
        app.clock.advance(Duration::from_millis(1_001));
        let ids: Vec<String> = (0..N).map(|i| format!("K-{i}")).collect();
        assert_eq!(stale(&app, &ids, "Under Review", None).await, 0);
    }
}

backend_test! {
    async fn changed_settings_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let url = crate::helpers::fresh_database_url(dir.path());
        let first = spawn_app_with(|c| c.database.url = url.clone()).await;
        let (s, _, _) = first
            .send_json("PATCH", "/api/v1/settings", &json!({"Jobs.ChunkSize": 42}))
            .await;
        assert_eq!(s, 200);
        let second = spawn_app_with(|c| c.database.url = url.clone()).await;
        assert_eq!(
            second.raw("GET", "/api/v1/settings", None).await.2["Jobs.ChunkSize"],
            42
        );
    }
}

backend_test! {
    async fn every_write_answers_with_a_consistency_token_further_on_than_the_last() {
        // No worker: the jobs stay queued until the test cancels them.
        let app = spawn_app_with(|c| c.jobs.workers = 0).await;
        let mut last = 0_u64;
        let mut step = |h: &reqwest::header::HeaderMap, what: &str| {
            let token = h
                .get("x-consistency-token")
                .unwrap_or_else(|| panic!("{what}: no X-Consistency-Token"))
                .to_str()
                .unwrap();
            let at: u64 = token.strip_prefix('c').unwrap().parse().unwrap();
            assert!(at > last, "{what}: {token} is not after c{last}");
            last = at;
        };
        let (s, h, _) = app
            .send_json("POST", "/api/v1/cases", &json!({"caseId": "T-1", "title": "t"}))
            .await;
        assert_eq!(s, 201);
        step(&h, "create case");
        let items = json!([{"caseId": "T-1", "priority": "High"}]);
        let (s, h, job) = app
            .send_json("POST", "/api/v1/cases/bulk-update", &items)
            .await;
        assert_eq!(s, 200, "{job}");
        step(&h, "submit");
        let id = job["jobId"].as_str().unwrap();
        let (s, h, r) = app
            .raw("POST", &format!("/api/v1/jobs/{id}/cancel"), None)
            .await;
        assert_eq!((s, r["status"].as_str()), (200, Some("cancelled")), "{r}");
        step(&h, "cancel");
        let (s, h, _) = app
            .raw("DELETE", &format!("/api/v1/jobs/{id}"), None)
            .await;
        assert_eq!(s, 204);
        step(&h, "delete job");
        let (s, h, _) = app
            .send_json("PATCH", "/api/v1/settings", &json!({"Jobs.ChunkSize": 100}))
            .await;
        assert_eq!(s, 200);
        step(&h, "settings");
        // Keys: once one exists the server is no longer open, so an admin key asks.
        let (_, admin) = crate::auth::make_key(&app, "admin", &["admin"]).await;
        let body = json!({"name": "k", "scopes": ["cases:read"]}).to_string();
        let (s, h, key) = crate::auth::call(&app, "POST", "/api/v1/keys", Some(&admin), Some(&body)).await;
        assert_eq!(s, 201, "{key}");
        step(&h, "create key");
        let path = format!("/api/v1/keys/{}", key["keyId"].as_str().unwrap());
        let (s, h, _) = crate::auth::call(&app, "DELETE", &path, Some(&admin), None).await;
        assert_eq!(s, 200);
        step(&h, "revoke key");
    }
}
