//! A cluster: three real `docket serve` processes on one PostgreSQL database. Skipped
//! (saying so) without `DOCKET_TEST_DATABASE_URL`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};

use crate::run::seed;
use crate::server::Server;

const CASES: usize = 10_000;

fn pg_url() -> Option<String> {
    std::env::var("DOCKET_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// A fresh schema on the test database, and a config the nodes share.
fn cluster_setup(jobs: &str, extra: &str) -> Option<(tempfile::TempDir, String)> {
    let Some(base) = pg_url() else {
        eprintln!("skipped: DOCKET_TEST_DATABASE_URL is not set, so this cluster test did not run");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let hex: String = (0..8).map(|_| format!("{:x}", rand_nibble())).collect();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}schema=dkt_{hex}");
    std::fs::write(
        dir.path().join("docket.toml"),
        format!(
            "[log]\nfilter = \"warn\"\n[jobs]\nheartbeat_ms = 200\nnode_ttl_seconds = 3\n{jobs}{extra}"
        ),
    )
    .unwrap();
    Some((dir, url))
}

fn rand_nibble() -> u8 {
    let mut b = [0u8; 1];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .unwrap();
    b[0] & 0xf
}

fn ids() -> Vec<String> {
    (1..=CASES).map(|i| format!("CASE-{i:06}")).collect()
}

/// Reads every case on `base` (16 at a time); returns the statuses.
async fn read_all(http: &reqwest::Client, base: &str, token: Option<&str>) -> Vec<String> {
    let mut out = Vec::with_capacity(CASES);
    for chunk in ids().chunks(16) {
        let reads = chunk.iter().map(|id| {
            let mut rb = http.get(format!("{base}/api/v1/cases/{id}"));
            if let Some(t) = token {
                rb = rb.header("x-consistency-token", t);
            }
            async move {
                rb.send().await.unwrap().json::<Value>().await.unwrap()["status"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            }
        });
        out.extend(futures_util::future::join_all(reads).await);
    }
    out
}

/// Keeps every case hot in `base`'s cache until stopped.
fn hot_reader(
    http: reqwest::Client,
    base: String,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let ids = ids();
        let mut i = 0;
        while !stop.load(Ordering::Relaxed) {
            let _ = http
                .get(format!("{base}/api/v1/cases/{}", ids[i % CASES]))
                .send()
                .await;
            i += 1;
        }
    })
}

async fn move_all(http: &reqwest::Client, base: &str) -> Value {
    let updates: Vec<Value> = ids()
        .iter()
        .map(|id| json!({"caseId": id, "fields": {"moved": true}, "status": "Pending"}))
        .collect();
    let res = http
        .patch(format!("{base}/api/v1/cases/bulk-update"))
        .json(&json!({"updates": updates}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let job = res.json::<Value>().await.unwrap()["jobId"]
        .as_str()
        .unwrap()
        .to_owned();
    loop {
        let st: Value = http
            .get(format!("{base}/api/v1/jobs/{job}/status?waitSeconds=20"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if st["status"] == "completed" {
            return st;
        }
        assert!(
            st["status"] == "running" || st["status"] == "queued",
            "{st}"
        );
    }
}

/// The statuses every case should read after the job: Pending where the workflow allowed
/// the move, else unchanged (the demo data has Resolved cases, which cannot go to Pending).
async fn expected(http: &reqwest::Client, base: &str, job: &Value) -> Vec<String> {
    // The token makes this read authoritative whatever the cache holds.
    read_all(http, base, job["consistencyToken"].as_str()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_show_zero_stale_reads_after_completed() {
    let Some((dir, url)) = cluster_setup("", "") else {
        return;
    };
    seed(&url, CASES);
    let nodes = [
        Server::start(dir.path(), &url).await,
        Server::start(dir.path(), &url).await,
        Server::start(dir.path(), &url).await,
    ];
    let http = reqwest::Client::new();
    let before = read_all(&http, &nodes[1].base, None).await;
    read_all(&http, &nodes[2].base, None).await;
    let stop = Arc::new(AtomicBool::new(false));
    let readers = [
        hot_reader(http.clone(), nodes[1].base.clone(), stop.clone()),
        hot_reader(http.clone(), nodes[2].base.clone(), stop.clone()),
    ];
    let done = move_all(&http, &nodes[0].base).await;
    let truth = expected(&http, &nodes[0].base, &done).await;
    let changed = truth.iter().zip(&before).filter(|(a, b)| a != b).count();
    assert!(
        changed > CASES / 2,
        "the job changed only {changed} statuses: the test would prove little"
    );
    for (n, node) in nodes.iter().enumerate() {
        let seen = read_all(&http, &node.base, None).await;
        let stale = seen.iter().zip(&truth).filter(|(a, b)| a != b).count();
        assert_eq!(
            stale,
            0,
            "node {} served {stale} stale reads after completed",
            n + 1
        );
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_sync_a_read_with_the_jobs_token_is_fresh_on_every_node_and_settings_reach_every_node()
 {
    let Some((dir, url)) = cluster_setup(
        "",
        "[settings]\n\"CaseManagement.SyncStatusAfterBulkUpdate\" = false\n\"CaseManagement.BulkUpdateCacheInvalidation\" = \"ttl\"\n",
    ) else {
        return;
    };
    seed(&url, CASES);
    let nodes = [
        Server::start(dir.path(), &url).await,
        Server::start(dir.path(), &url).await,
    ];
    let http = reqwest::Client::new();
    let before = read_all(&http, &nodes[1].base, None).await;
    let done = move_all(&http, &nodes[0].base).await;
    let token = done["consistencyToken"].as_str().unwrap();
    let truth = read_all(&http, &nodes[0].base, Some(token)).await;
    // ttl mode keeps node 2's warm cache stale for plain reads...
    let plain = read_all(&http, &nodes[1].base, None).await;
    assert_eq!(
        plain, before,
        "node 2 should still serve its cached (stale) reads in ttl mode"
    );
    assert_ne!(plain, truth);
    // ...but a read with the job's token is fresh there.
    assert_eq!(read_all(&http, &nodes[1].base, Some(token)).await, truth);

    // A settings change through node 1 reaches node 2 without a restart: turning the
    // cache off there (CacheTimeout 0) makes its plain reads fresh.
    let res = http
        .patch(format!("{}/api/v1/settings", nodes[0].base))
        .json(&json!({"CaseManagement.CacheTimeout": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let seen: Value = http
            .get(format!("{}/api/v1/settings", nodes[1].base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if seen["CaseManagement.CacheTimeout"] == json!(0) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "node 2 still shows {seen} 10 s after the change on node 1"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(read_all(&http, &nodes[1].base, None).await, truth);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_of_the_working_node_another_finishes_the_job_exactly_once() {
    const N: usize = 200_000;
    let Some((dir, url)) = cluster_setup(
        "lease_seconds = 3\n",
        "[server]\nmax_body_bytes = 67108864\n[settings]\n\"Jobs.MaxItemsPerRequest\" = 200000\n",
    ) else {
        return;
    };
    seed(&url, N);
    let worker = Server::start(dir.path(), &url).await;
    let http = reqwest::Client::new();
    let res = http
        .patch(format!("{}/api/v1/cases/bulk-update", worker.base))
        .json(&crate::crash::items(N))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let job = res.json::<Value>().await.unwrap()["jobId"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut processed = 0;
    for _ in 0..12_000 {
        processed = crate::crash::status(&http, &worker.base, &job, 0).await["processed"]
            .as_u64()
            .unwrap();
        if processed >= 20_000 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    // The second node starts only now, so the first one held the job until it died.
    worker.kill9();
    assert!(
        processed >= 20_000 && processed < N as u64,
        "killed at {processed}: not mid-job"
    );
    let other = Server::start(dir.path(), &url).await;
    let done = crate::crash::wait_completed(&http, &other.base, &job).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["succeeded"], N, "{done}");
    assert_eq!(
        done["failed"], 0,
        "an item was applied twice (version_conflict): {done}"
    );
    crate::crash::assert_every_case_applied_once(&http, &other.base, N).await;
}

/// `psql -Atc SQL` against the base test database; `None` (saying so) without psql.
fn psql(sql: &str) -> Option<String> {
    let base = pg_url()?;
    let out = std::process::Command::new("psql")
        .args([base.as_str(), "-Atc", sql])
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clusters_in_two_schemas_of_one_database_do_not_hear_each_other() {
    let (Some((dir_a, url_a)), Some((dir_b, url_b))) = (
        cluster_setup("", "[settings]\n\"Jobs.ChunkSize\" = 1\n"),
        cluster_setup("", "[settings]\n\"Jobs.ChunkSize\" = 1\n"),
    ) else {
        return;
    };
    if psql("SELECT 1").is_none() {
        eprintln!("skipped: psql is not installed, so this test cannot read the nodes table");
        return;
    }
    seed(&url_a, 10);
    seed(&url_b, 10);
    let a = Server::start(dir_a.path(), &url_a).await;
    let b = Server::start(dir_b.path(), &url_b).await;
    let http = reqwest::Client::new();
    // 200 commits in B (one item a chunk), none in A.
    for _ in 0..20 {
        let updates: Vec<Value> = (1..=10)
            .map(|i| json!({"caseId": format!("CASE-{i:06}"), "fields": {"n": 1}}))
            .collect();
        let res = http
            .patch(format!("{}/api/v1/cases/bulk-update", b.base))
            .json(&json!({"updates": updates, "options": {"waitForCompletion": true}}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    }
    // A's nodes record heartbeats every 200 ms; give them a few.
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let schema_a = url_a.rsplit("schema=").next().unwrap();
    let row = psql(&format!(
        "SELECT (SELECT max(applied_commit) FROM {schema_a}.nodes) || ' ' || \
         (SELECT value FROM {schema_a}.counters WHERE name = 'commit')"
    ))
    .unwrap();
    let (applied, commit) = row.split_once(' ').unwrap();
    let (applied, commit): (i64, i64) = (applied.parse().unwrap(), commit.parse().unwrap());
    assert!(
        applied <= commit,
        "a node of A reports invalidations applied up to {applied}, but A has only committed up to {commit}: it heard B's signals"
    );
    drop((a, b));
}
