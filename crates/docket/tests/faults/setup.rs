//! What every fault test shares: a fresh schema and a config for a cluster, the case
//! reads (each answer's status recorded in a [`StatusLog`]), bulk jobs, metrics, and a
//! node whose process id the test can signal.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::server::{docket, free_port};

/// The nodes' `jobs.node_ttl_seconds`: how long a cut-off node may trust its cache.
pub const NODE_TTL: Duration = Duration::from_secs(3);
/// Slack on top of [`NODE_TTL`] for the PATCH rule.
pub const SLACK: Duration = Duration::from_secs(1);

pub fn pg_url() -> Option<String> {
    std::env::var("DOCKET_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// A fresh schema on the test database and the config the nodes share (`jobs` lines in
/// `[jobs]`, `server` lines in `[server]`, then `extra`). Unless `server` sets its own
/// `request_timeout_seconds`, a request runs for at most 10 s on a node, so a read a
/// silent store cannot answer ends as a 503 `timeout`, not a hang.
/// `None`, saying so, without `DOCKET_TEST_DATABASE_URL`.
pub fn cluster(jobs: &str, server: &str, extra: &str) -> Option<(tempfile::TempDir, String)> {
    let Some(base) = pg_url() else {
        eprintln!("skipped: DOCKET_TEST_DATABASE_URL is not set, so this fault test did not run");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let hex: String = (0..8).map(|_| format!("{:x}", rand_nibble())).collect();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}schema=dkt_{hex}");
    let timeout = if server.contains("request_timeout_seconds") {
        ""
    } else {
        "request_timeout_seconds = 10\n"
    };
    std::fs::write(
        dir.path().join("docket.toml"),
        format!(
            "[log]\nfilter = \"warn\"\n[server]\n{timeout}{server}\
             [jobs]\nheartbeat_ms = 200\nnode_ttl_seconds = {}\n{jobs}{extra}",
            NODE_TTL.as_secs()
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

pub fn id(i: usize) -> String {
    format!("CASE-{i:06}")
}

/// Every HTTP status the test got, and the requests that got no answer at all (`0`).
#[derive(Clone, Default)]
pub struct StatusLog(Arc<Mutex<BTreeMap<u16, u64>>>);

impl StatusLog {
    pub fn record(&self, code: u16) {
        *self.0.lock().unwrap().entry(code).or_default() += 1;
    }

    pub fn count(&self, code: u16) -> u64 {
        self.0.lock().unwrap().get(&code).copied().unwrap_or(0)
    }

    /// No 500 (nor any 5xx but 503), and every request got an answer: a store that cannot
    /// be reached is a 503 `service_unavailable`, never a failure or a hang.
    #[track_caller]
    pub fn assert_no_500(&self) {
        let seen = self.0.lock().unwrap().clone();
        let bad: Vec<_> = seen
            .iter()
            .filter(|(c, _)| **c == 0 || (**c >= 500 && **c != 503))
            .collect();
        assert!(
            bad.is_empty(),
            "answers other than 503 among the 5xx, or no answer (0): {bad:?}; every status seen: {seen:?}"
        );
    }
}

impl std::fmt::Debug for StatusLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0.lock().unwrap())
    }
}

/// A client that gives up on a request after `secs` (a request that got no answer is
/// logged as `0`).
pub fn client(secs: u64) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(secs))
        .build()
        .unwrap()
}

/// Sends a request; its status (0: no answer) and JSON body. A 503 of the API must be a
/// `service_unavailable` problem with `Retry-After`, or a `timeout` problem.
pub async fn send(rb: reqwest::RequestBuilder, log: &StatusLog) -> (u16, Option<Value>) {
    let res = match rb.send().await {
        Ok(res) => res,
        Err(e) => {
            eprintln!("no answer: {e:?}");
            log.record(0);
            return (0, None);
        }
    };
    let code = res.status().as_u16();
    log.record(code);
    let api = res.url().path().starts_with("/api/");
    let retry_after = res.headers().contains_key("retry-after");
    let body = res.json::<Value>().await.ok();
    if code == 503 && api {
        let problem = body.clone().unwrap_or(Value::Null);
        let kind = problem["code"].as_str().unwrap_or_default();
        assert!(
            kind == "timeout" || (kind == "service_unavailable" && retry_after),
            "a 503 that is not a service_unavailable problem with Retry-After: {problem}"
        );
    }
    (code, body)
}

/// `GET /api/v1/cases/{id}`.
pub async fn get_case(
    http: &reqwest::Client,
    base: &str,
    i: usize,
    log: &StatusLog,
) -> (u16, Option<Value>) {
    send(http.get(format!("{base}/api/v1/cases/{}", id(i))), log).await
}

/// One read of a case: when it started and ended, and the version a 200 showed.
#[derive(Debug, Clone, Copy)]
pub struct Read {
    pub case: usize,
    pub started: Instant,
    pub ended: Instant,
    pub code: u16,
    pub version: Option<u64>,
}

/// Reads cases `1..=n` on `base`, `width` at a time; stops starting new reads at
/// `deadline` (so a partition that makes every read hang cannot stall the test).
pub async fn read_all(
    http: &reqwest::Client,
    base: &str,
    n: usize,
    width: usize,
    deadline: Option<Instant>,
    log: &StatusLog,
) -> Vec<Read> {
    let mut out = Vec::with_capacity(n);
    let all: Vec<usize> = (1..=n).collect();
    for chunk in all.chunks(width) {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let reads = chunk.iter().map(|&i| async move {
            let started = Instant::now();
            let (code, body) = get_case(http, base, i, log).await;
            let version = body.as_ref().and_then(|b| b["version"].as_u64());
            Read {
                case: i,
                started,
                ended: Instant::now(),
                code,
                version: if code == 200 { version } else { None },
            }
        });
        out.extend(futures_util::future::join_all(reads).await);
    }
    out
}

/// The version of every case `1..=n` read on `base` with `token` (a job's consistency
/// token): the truth a read after the job must show.
pub async fn truth(
    http: &reqwest::Client,
    base: &str,
    n: usize,
    token: &str,
    log: &StatusLog,
) -> BTreeMap<usize, u64> {
    let mut out = BTreeMap::new();
    let all: Vec<usize> = (1..=n).collect();
    for chunk in all.chunks(16) {
        let reads = chunk.iter().map(|&i| async move {
            let rb = http
                .get(format!("{base}/api/v1/cases/{}", id(i)))
                .header("x-consistency-token", token);
            let (code, body) = send(rb, log).await;
            assert_eq!(code, 200, "the writing node could not read {}", id(i));
            (i, body.unwrap()["version"].as_u64().unwrap())
        });
        out.extend(futures_util::future::join_all(reads).await);
    }
    out
}

/// The 200 reads of `reads` whose version is below `truth[case]` (`truth` by case number).
pub fn stale<'a>(reads: &'a [Read], truth: &BTreeMap<usize, u64>) -> Vec<&'a Read> {
    reads
        .iter()
        .filter(|r| r.code == 200 && r.version < truth.get(&r.case).copied())
        .collect()
}

/// The 200s of `reads` that started after `from` and ended before `to`: while a node
/// cannot reach PostgreSQL and can no longer trust its cache (from `node_ttl_seconds`
/// after it lost PostgreSQL), it has nothing to serve a 200 from.
pub fn untrusted(reads: &[Read], from: Instant, to: Instant) -> Vec<&Read> {
    reads
        .iter()
        .filter(|r| r.code == 200 && r.started > from && r.ended < to)
        .collect()
}

/// Submits a bulk job on `base`; its id.
pub async fn submit(http: &reqwest::Client, base: &str, updates: Vec<Value>) -> String {
    let res = http
        .patch(format!("{base}/api/v1/cases/bulk-update"))
        .json(&json!({"updates": updates}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    res.json::<Value>().await.unwrap()["jobId"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `GET /api/v1/jobs/{job}/status?waitSeconds=wait`, or `None` without a 200.
pub async fn job_status(
    http: &reqwest::Client,
    base: &str,
    job: &str,
    wait: u32,
    log: &StatusLog,
) -> Option<Value> {
    let url = format!("{base}/api/v1/jobs/{job}/status?waitSeconds={wait}");
    match send(http.get(url), log).await {
        (200, body) => body,
        _ => None,
    }
}

/// Polls until the job says `completed` (panics on another end or after `limit`).
pub async fn wait_completed(
    http: &reqwest::Client,
    base: &str,
    job: &str,
    limit: Duration,
    log: &StatusLog,
) -> Value {
    let started = Instant::now();
    loop {
        if let Some(st) = job_status(http, base, job, 5, log).await {
            if st["status"] == "completed" {
                return st;
            }
            assert!(
                st["status"] == "running" || st["status"] == "queued",
                "the job ended other than completed: {st}"
            );
            assert!(
                started.elapsed() < limit,
                "not completed after {limit:?}: {st}"
            );
        } else {
            assert!(started.elapsed() < limit, "no job status after {limit:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// `docket_cache_hits_total` of `base`'s `/metrics`.
pub async fn cache_hits(http: &reqwest::Client, base: &str) -> u64 {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("docket_cache_hits_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no docket_cache_hits_total in /metrics:\n{text}"))
}

/// Polls `GET /readyz` until it answers `want`; false if it did not within `limit`.
pub async fn readyz_becomes(
    http: &reqwest::Client,
    base: &str,
    want: u16,
    limit: Duration,
    log: &StatusLog,
) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if send(http.get(format!("{base}/readyz")), log).await.0 == want {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// A `docket serve` process the test can send signals to (SIGSTOP, SIGCONT).
pub struct Node {
    child: Child,
    pub base: String,
}

impl Node {
    pub async fn start(dir: &Path, db: &str) -> Self {
        let port = free_port();
        let child = docket()
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .args(["--database-url", db, "--config"])
            .arg(dir.join("docket.toml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let node = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let http = client(5);
        for _ in 0..300 {
            if let Ok(r) = http.get(format!("{}/readyz", node.base)).send().await {
                if r.status().is_success() {
                    return node;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("node did not become ready");
    }

    /// `kill -<sig> <pid>`.
    pub fn signal(&self, sig: &str) {
        let sent = std::process::Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{sig} failed");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
