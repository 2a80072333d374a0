//! Graceful shutdown of the real binary: SIGTERM in the middle of a job exits 0 soon,
//! even with an event stream open; the job resumes at the next start (SQLite) or on
//! another node at once, its leases released (PostgreSQL), and every item is applied
//! exactly once.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::crash::{assert_every_case_applied_once, items, status, wait_completed};
use crate::run::seed;
use crate::server::Server;

const CASES: usize = 40_000;

/// Items per request and body size for a 40,000-item request; a grace period long
/// enough that only shutdown's own work can explain a quick exit.
const CONFIG: &str = "[server]\nmax_body_bytes = 67108864\nshutdown_grace_seconds = 30\n[log]\nfilter = \"warn\"\n[settings]\n\"Jobs.MaxItemsPerRequest\" = 40000\n\"Jobs.ChunkSize\" = 200\n";

/// Submits the job and waits until it is well under way (but not done).
async fn submit_and_get_going(http: &reqwest::Client, base: &str) -> String {
    let res = http
        .patch(format!("{base}/api/v1/cases/bulk-update"))
        .json(&items(CASES))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let job = res.json::<Value>().await.unwrap()["jobId"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..6000 {
        if status(http, base, &job, 0).await["processed"]
            .as_u64()
            .unwrap()
            >= 2_000
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    job
}

/// Opens the job's event stream and reads it in the background until it ends.
fn follow_events(http: &reqwest::Client, base: &str, job: &str) -> tokio::task::JoinHandle<()> {
    let rb = http.get(format!("{base}/api/v1/jobs/{job}/events"));
    tokio::spawn(async move {
        if let Ok(res) = rb.send().await {
            let _ = res.text().await;
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_job_exits_zero_and_after_a_restart_every_item_is_applied_once() {
    let dir = tempfile::tempdir().unwrap();
    // Short groups of chunks: the job is many transactions, and SIGTERM lands mid-job.
    std::fs::write(
        dir.path().join("docket.toml"),
        format!("{CONFIG}[jobs]\nchunk_group_ms = 200\n"),
    )
    .unwrap();
    let db = format!("sqlite://{}", dir.path().join("docket.db").display());
    seed(&db, CASES);
    let http = reqwest::Client::new();
    let server = Server::start(dir.path(), &db).await;
    let base = server.base.clone();
    let job = submit_and_get_going(&http, &base).await;
    let events = follow_events(&http, &base, &job);
    tokio::time::sleep(Duration::from_millis(100)).await;

    let (exit, took) = server.terminate();
    assert!(exit.success(), "SIGTERM: {exit}");
    // Well within the 30 s grace: the open event stream did not hold the shutdown.
    assert!(took < Duration::from_secs(10), "shutdown took {took:?}");
    tokio::time::timeout(Duration::from_secs(5), events)
        .await
        .expect("the event stream did not end at shutdown")
        .unwrap();

    // As the process left it: mid-job, whole chunks applied, its lease released.
    let conn = rusqlite::Connection::open(dir.path().join("docket.db")).unwrap();
    let (state, processed, owner): (String, i64, Option<String>) = conn
        .query_row(
            "SELECT state, processed, lease_owner FROM jobs WHERE job_id = ?1",
            [&job],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(state, "running");
    assert!(
        processed >= 2_000 && processed < CASES as i64,
        "SIGTERM was not mid-job: {processed} processed"
    );
    assert_eq!(processed % 200, 0, "a chunk was cut: {processed} processed");
    assert_eq!(owner, None, "the job's lease was not released");
    let applied: i64 = conn
        .query_row("SELECT COUNT(*) FROM cases WHERE version = 2", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(
        applied, processed,
        "applied cases and processed items disagree"
    );
    drop(conn);

    let server = Server::start(dir.path(), &db).await;
    let done = wait_completed(&http, &server.base, &job).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["succeeded"], CASES, "{done}");
    assert_eq!(done["failed"], 0, "an item was applied twice: {done}");
    assert_every_case_applied_once(&http, &server.base, CASES).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_releases_the_job_so_another_node_resumes_it_at_once() {
    let Some(base_url) = std::env::var("DOCKET_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!(
            "skipped: DOCKET_TEST_DATABASE_URL is not set, so this PostgreSQL test did not run"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // A lease far longer than the test may take: only a released lease lets node b in.
    std::fs::write(
        dir.path().join("docket.toml"),
        format!("{CONFIG}[jobs]\nlease_seconds = 120\nheartbeat_ms = 200\nnode_ttl_seconds = 3\n"),
    )
    .unwrap();
    let schema = format!("dkt_{}", &docket_schema_suffix());
    let sep = if base_url.contains('?') { '&' } else { '?' };
    let url = format!("{base_url}{sep}schema={schema}");
    seed(&url, CASES);
    let http = reqwest::Client::new();
    let a = Server::start(dir.path(), &url).await;
    let job = submit_and_get_going(&http, &a.base).await;
    // Node b joins once a holds the job.
    let b = Server::start(dir.path(), &url).await;
    let (exit, took) = a.terminate();
    assert!(exit.success(), "SIGTERM: {exit}");
    assert!(took < Duration::from_secs(10), "shutdown took {took:?}");
    let started = Instant::now();
    let done = wait_completed(&http, &b.base, &job).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "node b waited for the lease to expire: {:?}",
        started.elapsed()
    );
    assert_eq!(done["succeeded"], CASES, "{done}");
    assert_eq!(done["failed"], 0, "an item was applied twice: {done}");
    assert_every_case_applied_once(&http, &b.base, CASES).await;
}

/// Eight random hex digits (a fresh schema per run).
fn docket_schema_suffix() -> String {
    let mut b = [0u8; 4];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom").unwrap(), &mut b).unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}
