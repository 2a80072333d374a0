//! PostgreSQL itself stopped (`pg_ctlcluster ... stop -m fast`) for 15 s in the middle of
//! a job on a three-node cluster: the nodes answer 503 (never 500), say not ready, and
//! when PostgreSQL is back the job resumes by itself and every node reads fresh.
//!
//! This disturbs the shared PostgreSQL server, so it runs only with
//! `DOCKET_TEST_FAULTS=1` on a machine with `pg_ctlcluster`; PostgreSQL is started again
//! by a drop guard even when the test fails.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::run::seed;
use crate::server::Server;
use crate::setup::{
    NODE_TTL, Read, SLACK, StatusLog, client, cluster, get_case, id, job_status, read_all,
    readyz_becomes, stale, submit, truth, untrusted, wait_completed,
};

const CASES: usize = 10_000;

/// The local cluster's version directory (`/etc/postgresql/<version>`).
fn version() -> String {
    let mut found: Vec<String> = std::fs::read_dir("/etc/postgresql")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    found.into_iter().next().unwrap()
}

fn pg_ctl(action: &str) -> bool {
    let mut c = Command::new("pg_ctlcluster");
    c.args(["--skip-systemctl-redirect", &version(), "main", action]);
    if action == "stop" {
        c.args(["-m", "fast"]);
    }
    c.status().is_ok_and(|s| s.success())
}

fn pg_ready() -> bool {
    Command::new("pg_isready")
        .args(["-h", "127.0.0.1", "-p", "5432"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Starts PostgreSQL again (and waits until it accepts connections) when dropped.
struct Restart;

impl Drop for Restart {
    fn drop(&mut self) {
        if pg_ready() {
            return;
        }
        pg_ctl("start");
        let started = Instant::now();
        while !pg_ready() && started.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(200));
        }
        if !pg_ready() {
            eprintln!("PostgreSQL did not come back within 60 s: start it by hand");
            assert!(std::thread::panicking(), "PostgreSQL did not come back");
        }
    }
}

fn enabled() -> bool {
    let asked = std::env::var("DOCKET_TEST_FAULTS").is_ok_and(|v| v == "1");
    let can = Command::new("pg_ctlcluster").arg("--help").output().is_ok()
        && std::path::Path::new("/etc/postgresql").is_dir();
    if !asked || !can {
        eprintln!(
            "skipped: this test stops the local PostgreSQL; set DOCKET_TEST_FAULTS=1 (and have pg_ctlcluster) to run it"
        );
    }
    asked && can
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_stopped_mid_job_leaves_no_stale_reads_and_no_500() {
    if !enabled() {
        return;
    }
    let Some((dir, url)) = cluster("", "", "[settings]\n\"Jobs.ChunkSize\" = 100\n") else {
        return;
    };
    seed(&url, CASES);
    let nodes = [
        Server::start(dir.path(), &url).await,
        Server::start(dir.path(), &url).await,
        Server::start(dir.path(), &url).await,
    ];
    let (http, log) = (client(30), StatusLog::default());
    for n in &nodes[1..] {
        read_all(&http, &n.base, CASES, 16, None, &log).await;
    }
    let updates: Vec<Value> = (1..=CASES)
        .map(|i| json!({"caseId": id(i), "fields": {"moved": true}, "status": "Pending"}))
        .collect();
    let job = submit(&http, &nodes[0].base, updates).await;
    let mut at = 0;
    while at < 500 {
        at = job_status(&http, &nodes[0].base, &job, 0, &log)
            .await
            .and_then(|s| s["processed"].as_u64())
            .unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(at < CASES as u64, "the job was done before the outage");

    let guard = Restart;
    assert!(pg_ctl("stop"), "pg_ctlcluster stop failed");
    let stopped = Instant::now();
    // Reads keep coming on every node through the outage: 503s, never a 500.
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let readers: Vec<_> = nodes
        .iter()
        .map(|n| {
            let (http, base, log, stop) = (http.clone(), n.base.clone(), log.clone(), stop.clone());
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let case = i % CASES + 1;
                    let started = Instant::now();
                    let (code, _) = get_case(&http, &base, case, &log).await;
                    let ended = Instant::now();
                    let version = None;
                    seen.lock().unwrap().push(Read {
                        case,
                        started,
                        ended,
                        code,
                        version,
                    });
                    i += 1;
                }
            })
        })
        .collect();
    for (k, n) in nodes.iter().enumerate() {
        let left = Duration::from_secs(15).saturating_sub(stopped.elapsed());
        assert!(
            readyz_becomes(&http, &n.base, 503, left.max(Duration::from_secs(1)), &log).await,
            "node {} still said ready with PostgreSQL stopped",
            k + 1
        );
    }
    tokio::time::sleep(Duration::from_secs(15).saturating_sub(stopped.elapsed())).await;
    let restarting = Instant::now();
    drop(guard);
    assert!(pg_ready(), "PostgreSQL is not back");

    for (k, n) in nodes.iter().enumerate() {
        assert!(
            readyz_becomes(&http, &n.base, 200, Duration::from_secs(30), &log).await,
            "node {} not ready 30 s after PostgreSQL came back",
            k + 1
        );
    }
    let done = wait_completed(&http, &nodes[0].base, &job, Duration::from_secs(180), &log).await;
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.await.unwrap();
    }
    let seen = seen.lock().unwrap().clone();
    let cached = untrusted(&seen, stopped + NODE_TTL + SLACK, restarting);
    assert!(
        cached.is_empty(),
        "{} reads answered 200 with PostgreSQL stopped for longer than node_ttl_seconds \
         (from a cache the node could not trust), e.g. {:?}",
        cached.len(),
        cached.first()
    );
    let token = done["consistencyToken"].as_str().unwrap();
    let truth = truth(&http, &nodes[0].base, CASES, token, &log).await;
    for (k, n) in nodes.iter().enumerate() {
        let reads = read_all(&http, &n.base, CASES, 16, None, &log).await;
        let bad = stale(&reads, &truth);
        assert!(
            bad.is_empty(),
            "node {} served {} stale reads after completed, e.g. {:?}",
            k + 1,
            bad.len(),
            bad.first()
        );
        assert!(
            reads.iter().all(|r| r.code == 200),
            "node {} failed reads",
            k + 1
        );
    }
    eprintln!("statuses: {log:?} ({} 503s)", log.count(503));
    log.assert_no_500();
}
