//! Node 3 of three loses PostgreSQL (through the test's [`Proxy`]) while node 1 runs a
//! bulk job or changes a setting: no 200 served after the job said `completed` may be
//! stale, during the fault or after it heals; after healing the node's cache works
//! again, its settings catch up, and `/readyz` says not ready exactly while it is cut.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::proxy::Proxy;
use crate::run::seed;
use crate::server::Server;
use crate::setup::{
    StatusLog, cache_hits, client, cluster, id, read_all, readyz_becomes, send, stale, submit,
    truth, wait_completed,
};

const CASES: usize = 2_000;

/// Three nodes on `url`; the third reaches PostgreSQL through `proxy`.
async fn three_nodes(dir: &std::path::Path, url: &str, proxy: &Proxy) -> [Server; 3] {
    [
        Server::start(dir, url).await,
        Server::start(dir, url).await,
        Server::start(dir, &proxy.url(url)).await,
    ]
}

/// Moves every case, as the cluster tests do: status Pending (where the workflow allows
/// it) and a new field.
fn move_all(n: usize) -> Vec<Value> {
    (1..=n)
        .map(|i| json!({"caseId": id(i), "fields": {"moved": true}, "status": "Pending"}))
        .collect()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fault {
    /// Connections closed, new ones refused.
    Cut,
    /// Connections open, nothing gets through.
    Silence,
}

async fn job_during(fault: Fault) {
    let Some((dir, url)) = cluster("", "", "") else {
        return;
    };
    seed(&url, CASES);
    let proxy = Proxy::start(&url).await;
    let nodes = three_nodes(dir.path(), &url, &proxy).await;
    let (http, log) = (client(30), StatusLog::default());
    for _ in 0..2 {
        read_all(&http, &nodes[2].base, CASES, 16, None, &log).await;
    }
    let warm = cache_hits(&http, &nodes[2].base).await;
    assert!(
        warm >= CASES as u64,
        "precondition: node 3 served only {warm} reads of its warm-up from its cache"
    );
    eprintln!(
        "{fault:?}: before the fault, a second pass over {CASES} cases hit node 3's cache {:.0}%",
        100.0 * (warm.min(CASES as u64) as f64) / CASES as f64
    );
    match fault {
        Fault::Cut => proxy.cut(),
        Fault::Silence => proxy.blackhole(),
    }
    let job = submit(&http, &nodes[0].base, move_all(CASES)).await;
    let done = wait_completed(&http, &nodes[0].base, &job, Duration::from_secs(120), &log).await;
    let truth = truth(
        &http,
        &nodes[0].base,
        CASES,
        done["consistencyToken"].as_str().unwrap(),
        &log,
    )
    .await;
    let changed = truth.values().filter(|v| **v > 1).count();
    assert!(
        changed > CASES / 2,
        "the job changed only {changed} cases: the test would prove little"
    );
    let healthy = read_all(&http, &nodes[1].base, CASES, 16, None, &log).await;
    assert_eq!(
        stale(&healthy, &truth).len(),
        0,
        "node 2 served stale reads"
    );

    // While node 3 is off: a 503 is fine, a 200 must be fresh. A silenced store makes
    // reads hang up to the request timeout, so this pass is time-boxed.
    let deadline = Instant::now() + Duration::from_secs(30);
    let during = read_all(&http, &nodes[2].base, CASES, 32, Some(deadline), &log).await;
    eprintln!(
        "{fault:?}: {} reads on node 3 during the fault; statuses so far {log:?}",
        during.len()
    );
    let bad = stale(&during, &truth);
    assert!(
        bad.is_empty(),
        "{fault:?}: node 3 served {} stale reads (of {} made) after the job said completed, e.g. {:?}",
        bad.len(),
        during.len(),
        bad.first()
    );

    proxy.heal();
    let healed = Instant::now();
    let mut after = Vec::new();
    while healed.elapsed() < Duration::from_secs(5) {
        after.extend(read_all(&http, &nodes[2].base, CASES, 16, None, &log).await);
    }
    let bad = stale(&after, &truth);
    assert!(
        bad.is_empty(),
        "{fault:?}: after healing, node 3 served {} stale reads of {}, e.g. {:?}",
        bad.len(),
        after.len(),
        bad.first()
    );
    assert_cache_works_again(&http, &nodes[2].base, &truth, &log).await;
    log.assert_no_500();
}

/// After healing, repeated reads of the same cases hit node 3's cache again (within
/// 15 s), and what they serve is fresh; the node answers every read with a 200.
async fn assert_cache_works_again(
    http: &reqwest::Client,
    base: &str,
    truth: &std::collections::BTreeMap<usize, u64>,
    log: &StatusLog,
) {
    const HOT: usize = 200;
    let started = Instant::now();
    let before = cache_hits(http, base).await;
    let mut last = before;
    while started.elapsed() < Duration::from_secs(15) {
        let reads = read_all(http, base, HOT, 16, None, log).await;
        assert_eq!(stale(&reads, truth).len(), 0, "stale reads after healing");
        let not_ok: Vec<_> = reads.iter().filter(|r| r.code != 200).collect();
        assert!(
            not_ok.is_empty() || started.elapsed() < Duration::from_secs(5),
            "node 3 still fails reads {:?} after healing: {:?}",
            started.elapsed(),
            not_ok.first()
        );
        let prev = last;
        last = cache_hits(http, base).await;
        if last - prev >= HOT as u64 {
            eprintln!(
                "after healing: a pass over {HOT} cases hit node 3's cache {:.0}% again, {:?} after the first re-read",
                100.0 * ((last - prev).min(HOT as u64) as f64) / HOT as f64,
                started.elapsed()
            );
            return;
        }
    }
    panic!(
        "node 3's cache did not fill again after healing: {} cache hits in 15 s of re-reading \
         the same {HOT} cases (docket_cache_hits_total {before} -> {last})",
        last - before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_off_during_a_job_serves_no_stale_read_after_completed() {
    job_during(Fault::Cut).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_silently_partitioned_during_a_job_serves_no_stale_read_after_completed() {
    job_during(Fault::Silence).await;
}

async fn settings(http: &reqwest::Client, base: &str, log: &StatusLog) -> Option<Value> {
    match send(http.get(format!("{base}/api/v1/settings")), log).await {
        (200, body) => body,
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settings_change_during_a_cut_reaches_the_cut_node_after_healing() {
    let Some((dir, url)) = cluster("", "", "") else {
        return;
    };
    seed(&url, 10);
    let proxy = Proxy::start(&url).await;
    let nodes = three_nodes(dir.path(), &url, &proxy).await;
    let (http, log) = (client(30), StatusLog::default());
    let key = "CaseManagement.CacheTimeout";
    let before = settings(&http, &nodes[2].base, &log).await.unwrap();
    assert_ne!(before[key], json!(120), "pick another value for the test");

    proxy.cut();
    let (code, body) = send(
        http.patch(format!("{}/api/v1/settings", nodes[0].base))
            .json(&json!({key: 120})),
        &log,
    )
    .await;
    assert_eq!(code, 200, "{body:?}");
    // Let node 3 miss the change's notification for sure.
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.heal();

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let seen = settings(&http, &nodes[2].base, &log).await;
        if seen.as_ref().is_some_and(|s| s[key] == json!(120)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node 3 still shows {seen:?} 10 s after healing (changed on node 1 during the cut)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    log.assert_no_500();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_goes_not_ready_during_a_cut_and_back() {
    let Some((dir, url)) = cluster("", "", "") else {
        return;
    };
    seed(&url, 10);
    let proxy = Proxy::start(&url).await;
    let nodes = three_nodes(dir.path(), &url, &proxy).await;
    let (http, log) = (client(15), StatusLog::default());
    let limit = Duration::from_secs(30);
    assert!(readyz_becomes(&http, &nodes[2].base, 200, limit, &log).await);

    proxy.cut();
    assert!(
        readyz_becomes(&http, &nodes[2].base, 503, limit, &log).await,
        "node 3 still says ready 30 s into the cut"
    );
    let (code, _) = send(http.get(format!("{}/readyz", nodes[0].base)), &log).await;
    assert_eq!(code, 200, "node 1 is not cut off: it must stay ready");

    proxy.heal();
    assert!(
        readyz_becomes(&http, &nodes[2].base, 200, limit, &log).await,
        "node 3 not ready again 30 s after healing"
    );
    log.assert_no_500();
}
