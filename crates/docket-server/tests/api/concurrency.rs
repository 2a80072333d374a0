//! Concurrent writers never lose an update.

use docket_api::{CasePatch, PageQuery};
use serde_json::json;

use crate::helpers::spawn_app;

backend_test! {
    async fn twenty_concurrent_patches_of_one_case_all_apply() {
        let app = spawn_app().await;
        app.create(json!({"title": "contended"})).await;
        let mut handles = Vec::new();
        for i in 0..20 {
            let client = app.client.clone();
            handles.push(tokio::spawn(async move {
                let p = CasePatch {
                    title: Some(format!("writer {i}")),
                    ..Default::default()
                };
                client
                    .update_case("CASE-000001", &p, None)
                    .await
                    .unwrap()
                    .body
                    .version
            }));
        }
        let mut versions = Vec::new();
        for h in handles {
            versions.push(h.await.unwrap());
        }
        versions.sort_unstable();
        assert_eq!(
            versions,
            (2..=21).collect::<Vec<u64>>(),
            "each write saw its own version"
        );
        let case = app.client.get_case("CASE-000001").await.unwrap().body;
        assert_eq!(case.version, 21);
        let history = app
            .client
            .history(
                "CASE-000001",
                &PageQuery {
                    limit: Some(100),
                    cursor: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(history.items.len(), 20);
    }
}

/// Writers on every one of `nodes` nodes (single PATCHes, task changes, deletes, two
/// bulk jobs) run at once while a consumer tails `/changes` through the first node with
/// long-polls; afterwards the consumer holds every change exactly once, in position
/// order, each case's in version order with no gap, matching the cases' own history.
pub async fn feed_under_concurrent_writers(nodes: usize) {
    use std::collections::HashMap;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use serde_json::Value;

    const CASES: usize = 40;
    let first = spawn_app().await;
    let mut apps = vec![first];
    for _ in 1..nodes {
        apps.push(crate::changes::another_node(&apps[0]).await);
    }
    let apps = Arc::new(apps);
    for i in 0..CASES {
        apps[i % nodes]
            .create(json!({"caseId": format!("C-{i}"), "title": format!("case {i}")}))
            .await;
    }
    // The consumer: long-polls through the first node until told to stop and drained.
    let done = Arc::new(AtomicBool::new(false));
    let consumer = {
        let (apps, done) = (apps.clone(), done.clone());
        tokio::spawn(async move {
            let app = &apps[0];
            let (mut items, mut cursor): (Vec<Value>, String) = (Vec::new(), "0".into());
            loop {
                let stop = done.load(Ordering::Acquire);
                let (s, _, page) = app
                    .raw(
                        "GET",
                        &format!("/api/v1/changes?after={cursor}&limit=50&waitSeconds=1"),
                        None,
                    )
                    .await;
                assert_eq!(s, 200, "{page}");
                let got = page["items"].as_array().unwrap().clone();
                cursor = page["nextAfter"].as_str().unwrap().to_owned();
                if got.is_empty() && stop {
                    return items;
                }
                items.extend(got);
            }
        })
    };
    let mut writers = Vec::new();
    for (n, app) in apps.iter().enumerate() {
        let (apps, n) = (apps.clone(), n);
        let _ = app;
        writers.push(tokio::spawn(async move {
            let app = &apps[n];
            for k in 0..30 {
                let id = (k * 7 + n * 3) % 30;
                let priority = ["Low", "Medium", "High", "Critical"][(k + n) % 4];
                let body = json!({"priority": priority, "assignee": format!("w{n}-{k}")});
                let (s, _, r) = app
                    .send_json("PATCH", &format!("/api/v1/cases/C-{id}"), &body)
                    .await;
                assert_eq!(s, 200, "{r}");
                if k % 10 == 0 {
                    let (s, _, t) = app
                        .send_json(
                            "POST",
                            &format!("/api/v1/cases/C-{id}/tasks"),
                            &json!({"title": "t"}),
                        )
                        .await;
                    assert_eq!(s, 201, "{t}");
                    let path = format!(
                        "/api/v1/cases/C-{id}/tasks/{}",
                        t["taskId"].as_str().unwrap()
                    );
                    let (s, _, _) = app
                        .send_json("PATCH", &path, &json!({"status": "done"}))
                        .await;
                    assert_eq!(s, 200);
                }
            }
            let (s, _, _) = app
                .raw("DELETE", &format!("/api/v1/cases/C-{}", 35 + n), None)
                .await;
            assert_eq!(s, 204);
        }));
    }
    let mut jobs = Vec::new();
    for j in 0..2 {
        let app = &apps[j % nodes];
        let items: Vec<Value> = (0..CASES)
            .map(|i| json!({"caseId": format!("C-{i}"), "tags": [format!("job{j}")]}))
            .collect();
        let (s, _, r) = app
            .send_json("POST", "/api/v1/cases/bulk-update", &json!(items))
            .await;
        assert_eq!(s, 200, "{r}");
        jobs.push(r["jobId"].as_str().unwrap().to_owned());
    }
    for w in writers {
        w.await.unwrap();
    }
    for id in &jobs {
        apps[0].wait_job(id).await;
    }
    done.store(true, Ordering::Release);
    let items = consumer.await.unwrap();

    // What the cases themselves say: each survivor's version and history length.
    let mut histories = HashMap::new();
    for i in 0..CASES {
        let (s, _, case) = apps[0]
            .raw("GET", &format!("/api/v1/cases/C-{i}"), None)
            .await;
        if s == 404 {
            continue;
        }
        let mut n = 0;
        let mut cursor = String::new();
        loop {
            let (s, _, page) = apps[0]
                .raw(
                    "GET",
                    &format!("/api/v1/cases/C-{i}/history?limit=1000{cursor}"),
                    None,
                )
                .await;
            assert_eq!(s, 200);
            n += page["items"].as_array().unwrap().len();
            match page["nextCursor"].as_str() {
                Some(c) => cursor = format!("&cursor={c}"),
                None => break,
            }
        }
        histories.insert(format!("C-{i}"), (case["version"].as_u64().unwrap(), n));
    }
    assert_eq!(histories.len(), CASES - nodes);
    crate::changes::check_against_history(&items, &histories);
    // The deleted cases: every version from 1, the deletion last.
    for n in 0..nodes {
        let id = format!("C-{}", 35 + n);
        let mine: Vec<&Value> = items
            .iter()
            .filter(|c| c["caseId"] == id.as_str())
            .collect();
        let versions: Vec<u64> = mine
            .iter()
            .map(|c| c["version"].as_u64().unwrap())
            .collect();
        assert_eq!(
            versions,
            (1..=versions.len() as u64).collect::<Vec<_>>(),
            "{id}"
        );
        assert_eq!(mine.last().unwrap()["type"], "case.deleted");
    }
    let ended: Vec<&str> = items
        .iter()
        .filter(|c| c["type"] == "job.completed")
        .map(|c| c["jobId"].as_str().unwrap())
        .collect();
    assert_eq!(ended.len(), 2, "{ended:?}");
}
