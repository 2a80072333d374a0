//! A worker that hangs (SIGSTOP) in the middle of a job: its chunk transaction must not
//! outlive the job's lease, so another node takes the job over within about one lease,
//! a PATCH of a case in the hung chunk answers promptly, and when the hung node wakes
//! up (SIGCONT) it commits nothing stale: every item is applied exactly once.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::run::seed;
use crate::server::Server;
use crate::setup::{
    Node, StatusLog, client, cluster, id, job_status, send, submit, wait_completed,
};

const N: usize = 40_000;

/// Every item sets a new field and demands version 1: applying an item twice fails it
/// as `version_conflict`, skipping one leaves its case at version 1.
fn items(n: usize) -> Vec<Value> {
    (1..=n)
        .map(|i| json!({"caseId": id(i), "fields": {"migrated": true}, "expectedVersion": 1}))
        .collect()
}

async fn processed(http: &reqwest::Client, base: &str, job: &str, log: &StatusLog) -> u64 {
    job_status(http, base, job, 0, log)
        .await
        .and_then(|st| st["processed"].as_u64())
        .unwrap_or(0)
}

/// Pages through every case on `base`: what is wrong unless each one moved exactly once.
async fn applied_once(http: &reqwest::Client, base: &str, n: usize) -> Option<String> {
    let mut cursor: Option<String> = None;
    let (mut seen, mut wrong) = (0, Vec::new());
    loop {
        let mut url = format!("{base}/api/v1/cases?limit=1000");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = http.get(url).send().await.unwrap().json().await.unwrap();
        for c in page["items"].as_array().unwrap() {
            if c["version"] != 2 || c["fields"]["migrated"] != true {
                wrong.push(format!("{} at version {}", c["caseId"], c["version"]));
            }
            seen += 1;
        }
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    if seen != n {
        return Some(format!("{seen} cases listed, not {n}"));
    }
    (!wrong.is_empty()).then(|| {
        format!(
            "{} cases applied other than once, e.g. {:?}",
            wrong.len(),
            &wrong[..wrong.len().min(5)]
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_worker_loses_its_job_to_another_node_and_commits_nothing_stale() {
    let lease = Duration::from_secs(3);
    let Some((dir, url)) = cluster(
        &format!("lease_seconds = {}\n", lease.as_secs()),
        // The default request timeout: a PATCH stuck behind the hung chunk must not be
        // rescued by a short one.
        "max_body_bytes = 67108864\nrequest_timeout_seconds = 60\n",
        "[settings]\n\"Jobs.MaxItemsPerRequest\" = 200000\n",
    ) else {
        return;
    };
    seed(&url, N);
    let (http, log) = (client(30), StatusLog::default());
    let a = Node::start(dir.path(), &url).await;
    let job = submit(&http, &a.base, items(N)).await;
    // B starts once A holds the job, so A is the worker that hangs; B is up from then on.
    let started = Instant::now();
    while processed(&http, &a.base, &job, &log).await == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "A never started the job"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let b = Server::start(dir.path(), &url).await;
    let mut at = 0;
    while at < 2_000 {
        at = processed(&http, &a.base, &job, &log).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    a.signal("STOP");
    let stopped = Instant::now();
    assert!(
        at < N as u64 / 2,
        "A was at {at} of {N} when stopped: too far to prove a takeover"
    );
    let mut problems = Vec::new();

    // Where A stood when it stopped (it may still have committed its chunk in flight).
    let base = processed(&http, &b.base, &job, &log).await;
    // A PATCH of the first case past that, most likely in A's open chunk. Its If-Match
    // can never match, so it changes nothing: a 412 once the case is free (a 409 or 503
    // while not), within 15 s, not after the request timeout.
    let target = id(usize::try_from(base).unwrap() + 1);
    let patch = {
        let rb = client(15)
            .patch(format!("{}/api/v1/cases/{target}", b.base))
            .header("if-match", "\"999\"")
            .json(&json!({"fields": {"touched": true}}));
        let log = log.clone();
        tokio::spawn(async move {
            let sent = Instant::now();
            let (code, body) = send(rb, &log).await;
            (code, body, sent.elapsed())
        })
    };

    // B must take the job over and make progress while A is stopped: two chunks past
    // where A stood (A could commit at most the one in flight).
    let mut progressed = None;
    while stopped.elapsed() < Duration::from_secs(15) {
        let st = job_status(&http, &b.base, &job, 0, &log).await;
        let now = st
            .as_ref()
            .and_then(|s| s["processed"].as_u64())
            .unwrap_or(0);
        if now >= base + 1_000 || st.is_some_and(|s| s["status"] == "completed") {
            progressed = Some((stopped.elapsed(), now));
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    match progressed {
        Some((after, now)) => eprintln!("B reached {now} (A stood at {base}) {after:?} after the stop"),
        None => problems.push(format!(
            "no progress through B within 15 s of stopping A (processed still {}, A stood at {base})",
            processed(&http, &b.base, &job, &log).await
        )),
    }
    // Keep A stopped for twice the lease and a bit, then wake it up.
    tokio::time::sleep((lease * 2 + Duration::from_secs(1)).saturating_sub(stopped.elapsed()))
        .await;
    let (code, body, took) = patch.await.unwrap();
    eprintln!("PATCH {target} during the stop: {code} after {took:?}");
    if !matches!(code, 409 | 412 | 503) {
        problems.push(format!(
            "PATCH {target} during the stop answered {code} after {took:?} (want 409/412/503 within 15 s; 0 = none): {body:?}"
        ));
    }
    a.signal("CONT");

    let done = wait_completed(&http, &b.base, &job, Duration::from_secs(180), &log).await;
    if done["succeeded"] != N || done["failed"] != 0 {
        problems.push(format!(
            "not every item succeeded once (a failed one was applied twice: version_conflict): {done}"
        ));
    }
    problems.extend(applied_once(&http, &b.base, N).await);
    assert!(problems.is_empty(), "{problems:#?}");
    log.assert_no_500();
}
