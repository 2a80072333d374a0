//! Single-case PATCHes through node 1 while node 3, whose cache holds those cases, is
//! cut off from PostgreSQL (briefly, for long, silently, or by having its connections
//! terminated while reconnects are refused).
//!
//! A PATCH does not wait for other nodes. When node 3's connections are closed (a cut,
//! terminated backends) it knows at once and stops serving from its cache, so the rule
//! is strict: every 200 that node 3 serves for a read that *started* after the PATCH was
//! acknowledged (and half a second after the fault began, for the node to see its
//! connection close) shows the PATCH. A silent partition is only noticed when the node's
//! cache lease runs out, so there the rule is: reads started more than
//! `node_ttl_seconds` (+1 s slack) after the PATCH. Either way every read started after
//! healing shows every PATCH acknowledged before.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::proxy::Proxy;
use crate::run::seed;
use crate::server::Server;
use crate::setup::{
    NODE_TTL, Read, SLACK, StatusLog, cache_hits, client, cluster, get_case, id, pg_url, read_all,
    send, untrusted,
};

const CASES: usize = 300;
/// How long node 3 may take to notice that its connections were closed.
const NOTICED: Duration = Duration::from_millis(500);
const READERS: usize = 16;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fault {
    /// Every connection closed, new ones refused, for this long.
    Cut(Duration),
    /// Connections open but silent for this long.
    Silence(Duration),
    /// The node's backends terminated (`pg_terminate_backend`), reconnects refused for
    /// this long.
    Terminated(Duration),
}

/// What node 1 acknowledged: the case's new version, and when.
#[derive(Clone, Copy, Debug)]
struct Ack {
    version: u64,
    at: Instant,
}

/// Reads every case on `base` over and over (`READERS` at a time) until `stop`.
fn readers(
    http: &reqwest::Client,
    base: &str,
    stop: &Arc<AtomicBool>,
    reads: &Arc<Mutex<Vec<Read>>>,
    log: &StatusLog,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..READERS)
        .map(|r| {
            let (http, base, stop) = (http.clone(), base.to_owned(), stop.clone());
            let (reads, log) = (reads.clone(), log.clone());
            tokio::spawn(async move {
                let mut i = r;
                while !stop.load(Ordering::Relaxed) {
                    let case = i % CASES + 1;
                    let started = Instant::now();
                    let (code, body) = get_case(&http, &base, case, &log).await;
                    let version = body.as_ref().and_then(|b| b["version"].as_u64());
                    reads.lock().unwrap().push(Read {
                        case,
                        started,
                        ended: Instant::now(),
                        code,
                        version: if code == 200 { version } else { None },
                    });
                    i += READERS;
                }
            })
        })
        .collect()
}

/// Terminates the PostgreSQL backends behind `ports` over a direct `psql` connection.
fn terminate(ports: &[u16]) -> usize {
    let list: Vec<String> = ports.iter().map(u16::to_string).collect();
    let sql = format!(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE client_addr = '127.0.0.1' AND client_port IN ({})",
        list.join(",")
    );
    let out = std::process::Command::new("psql")
        .arg(pg_url().unwrap())
        .args(["-XAtc", &sql])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

async fn patches_during(fault: Fault) {
    let Some((dir, url)) = cluster("", "", "") else {
        return;
    };
    seed(&url, CASES);
    let proxy = Proxy::start(&url).await;
    let nodes = [
        Server::start(dir.path(), &url).await,
        Server::start(dir.path(), &url).await,
        Server::start(dir.path(), &proxy.url(&url)).await,
    ];
    let (http, log) = (client(30), StatusLog::default());
    for _ in 0..2 {
        let warm = read_all(&http, &nodes[2].base, CASES, 16, None, &log).await;
        assert!(
            warm.iter().all(|r| r.code == 200),
            "node 3 could not warm up"
        );
    }
    let hits = cache_hits(&http, &nodes[2].base).await;
    assert!(
        hits >= CASES as u64,
        "precondition: node 3 served only {hits} reads of its warm-up from its cache"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(Mutex::new(Vec::new()));
    let tasks = readers(&http, &nodes[2].base, &stop, &reads, &log);

    let began = Instant::now();
    let lasts = match fault {
        Fault::Cut(d) => {
            proxy.cut();
            d
        }
        Fault::Silence(d) => {
            proxy.blackhole();
            d
        }
        Fault::Terminated(d) => {
            proxy.refuse();
            let ports = proxy.upstream_ports();
            assert!(!ports.is_empty(), "node 3 has no connection to PostgreSQL");
            let killed = terminate(&ports);
            assert!(
                killed > 0,
                "no backend of node 3 terminated (ports {ports:?})"
            );
            d
        }
    };

    let mut acks: BTreeMap<usize, Ack> = BTreeMap::new();
    let all: Vec<usize> = (1..=CASES).collect();
    for chunk in all.chunks(8) {
        let patches = chunk.iter().map(|&i| {
            let rb = http
                .patch(format!("{}/api/v1/cases/{}", nodes[0].base, id(i)))
                .json(&json!({"fields": {"patched": true}}));
            let log = &log;
            async move {
                let (code, body) = send(rb, log).await;
                assert_eq!(code, 200, "PATCH {} through node 1: {body:?}", id(i));
                let version = body.unwrap()["version"].as_u64().unwrap();
                (
                    i,
                    Ack {
                        version,
                        at: Instant::now(),
                    },
                )
            }
        });
        acks.extend(futures_util::future::join_all(patches).await);
    }
    let last_ack = acks.values().map(|a| a.at).max().unwrap();
    tokio::time::sleep(lasts.saturating_sub(began.elapsed())).await;
    proxy.heal();
    let healed = Instant::now();

    // Keep reading until every PATCH is past the rule's bound, and a bit more.
    let until = last_ack.max(healed) + NODE_TTL + SLACK + Duration::from_secs(2);
    tokio::time::sleep(until.saturating_duration_since(Instant::now())).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let reads = reads.lock().unwrap().clone();

    let silent = matches!(fault, Fault::Silence(_));
    let mut bound = 0;
    let mut stale = Vec::new();
    for r in &reads {
        let ack = acks[&r.case];
        let must = if silent {
            r.started > ack.at + NODE_TTL + SLACK
        } else {
            r.started > ack.at && r.started > began + NOTICED
        } || (r.started > healed && ack.at < healed);
        if must {
            bound += 1;
            if r.code == 200 && r.version < Some(ack.version) {
                stale.push(r);
            }
        }
    }
    let fresh_ok = reads.iter().filter(|r| r.code == 200).count();
    eprintln!(
        "{fault:?}: {} reads on node 3, {fresh_ok} of them 200, {bound} bound by the rule; statuses {log:?}",
        reads.len()
    );
    assert!(
        bound > 0,
        "no read on node 3 fell under the rule: the test proved nothing"
    );
    assert!(
        stale.is_empty(),
        "{fault:?}: node 3 served {} stale reads (of {bound} that had to be fresh), e.g. {:?} \
         for a PATCH acknowledged {:?} before the read started",
        stale.len(),
        stale[0],
        stale[0].started.duration_since(acks[&stale[0].case].at),
    );

    if matches!(fault, Fault::Cut(_) | Fault::Silence(_)) {
        let cached = untrusted(&reads, began + NODE_TTL + SLACK, healed);
        assert!(
            cached.is_empty(),
            "{fault:?}: node 3 served {} reads with 200 while cut off for longer than \
             node_ttl_seconds (from a cache it could not trust), e.g. {:?}",
            cached.len(),
            cached.first()
        );
    }

    // Healed and past the bound: every case reads 200 and fresh.
    let last = read_all(&http, &nodes[2].base, CASES, 16, None, &log).await;
    for r in &last {
        assert_eq!(r.code, 200, "node 3 after healing: {r:?}");
        assert_eq!(
            r.version,
            Some(acks[&r.case].version),
            "stale after healing: {r:?}"
        );
    }
    log.assert_no_500();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_cut_during_single_case_patches_leaves_no_stale_reads() {
    patches_during(Fault::Cut(Duration::from_secs(1))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_cut_during_single_case_patches_leaves_no_stale_reads() {
    patches_during(Fault::Cut(Duration::from_secs(30))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_partition_during_single_case_patches_leaves_no_stale_reads() {
    patches_during(Fault::Silence(Duration::from_secs(12))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminated_connections_with_a_refused_reconnect_leave_no_stale_reads() {
    if std::process::Command::new("psql")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: psql is not installed, so the test cannot terminate backends");
        return;
    }
    patches_during(Fault::Terminated(Duration::from_secs(2))).await;
}
