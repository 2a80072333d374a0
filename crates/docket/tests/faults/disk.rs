//! A full disk under SQLite, with the real binary on a 64 MiB tmpfs: writes answer `503`
//! (never `500`), `/readyz` goes not ready, a running job stops without completing, the
//! log does not flood, and once space is freed the server recovers by itself (ready
//! again, the job completes, writes succeed) without the WAL filling the disk again,
//! losing nothing it acknowledged.
//!
//! Needs root (`mount -t tmpfs`) and `DOCKET_TEST_FAULTS=1`; otherwise it prints
//! `skipped: …` and passes.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const CASES: usize = 2000;

fn docket() -> Command {
    Command::new(env!("CARGO_BIN_EXE_docket"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A tmpfs mounted on a temp dir; unmounted (lazily, if something still holds it) on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(self.dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }
}

/// Bytes free on the file system holding `dir`.
fn free_bytes(dir: &Path) -> u64 {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Fills the disk: appends to `file` until `ENOSPC`, then keeps topping it up (taking
/// back whatever the server frees, as another process filling the disk would) until
/// stopped. Stopping joins the thread and deletes the file.
struct Hog {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn top_up(f: &mut std::fs::File) {
    let big = vec![0x5au8; 1 << 20];
    while f.write_all(&big).is_ok() {}
    let small = vec![0x5au8; 4096];
    while f.write_all(&small).is_ok() {}
    while f.write_all(&small[..512]).is_ok() {}
}

impl Hog {
    fn fill(path: PathBuf) -> Self {
        let mut f = std::fs::File::create(&path).unwrap();
        top_up(&mut f);
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                top_up(&mut f);
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        Self {
            path,
            stop,
            thread: Some(thread),
        }
    }

    fn free(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        std::fs::remove_file(&self.path).unwrap();
    }
}

impl Drop for Hog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// SIGTERM and wait for the exit.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let started = Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no exit within 60 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn skip_reason() -> Option<String> {
    if std::env::var("DOCKET_TEST_FAULTS").as_deref() != Ok("1") {
        return Some("set DOCKET_TEST_FAULTS=1 to run fault tests".into());
    }
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("needs root to mount a tmpfs".into());
    }
    None
}

async fn readyz(http: &reqwest::Client, base: &str) -> u16 {
    http.get(format!("{base}/readyz"))
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

async fn job(http: &reqwest::Client, base: &str, id: &str) -> Value {
    http.get(format!("{base}/api/v1/jobs/{id}/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// PATCHes case `n` to `fields.probe = n`. The status, and the body when not 200.
async fn patch(
    http: &reqwest::Client,
    base: &str,
    n: usize,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let res = http
        .patch(format!("{base}/api/v1/cases/CASE-{n:06}"))
        .json(&json!({"fields": {"probe": n}}))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_goes_not_ready_and_recovers_when_space_is_freed() {
    if let Some(why) = skip_reason() {
        println!("skipped: {why}");
        return;
    }
    let disk = match Tmpfs::mount("64m") {
        Ok(d) => d,
        Err(why) => {
            println!("skipped: {why}");
            return;
        }
    };
    let conf = tempfile::tempdir().unwrap();
    let config = conf.path().join("docket.toml");
    // Small chunks: the job is many transactions, so the disk fills in the middle of it.
    std::fs::write(
        &config,
        "[log]\nfilter = \"info\"\n[jobs]\nchunk_group_ms = 0\n[settings]\n\"Jobs.ChunkSize\" = 5\n",
    )
    .unwrap();
    let db_path = disk.path().join("docket.db");
    let db = format!("sqlite://{}", db_path.display());
    let seeded = docket()
        .args(["seed", "--database-url", &db, "--cases", &CASES.to_string()])
        .args(["--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        seeded.status.success(),
        "{}",
        String::from_utf8_lossy(&seeded.stderr)
    );

    let log_path = conf.path().join("server.log");
    let port = free_port();
    let server = Server {
        child: docket()
            .args([
                "serve",
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--database-url",
                &db,
                "--config",
            ])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path).unwrap())
            .spawn()
            .unwrap(),
        base: format!("http://127.0.0.1:{port}"),
    };
    let base = server.base.clone();
    let http = reqwest::Client::new();
    let started = Instant::now();
    while readyz(&http, &base).await != 200 {
        assert!(started.elapsed() < Duration::from_secs(15), "never ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let reserve = disk.path().join("docket.db-reserve");
    assert!(
        reserve.exists(),
        "no free-space reserve beside the database"
    );

    // Writes acknowledged with a 200, by case number: each must survive.
    let mut acked = BTreeMap::new();
    for n in 1..=20 {
        let (status, _, body) = patch(&http, &base, n).await;
        assert_eq!(status, 200, "{body}");
        acked.insert(n, ());
    }

    // Fill the disk but leave a little, so the job can be stored and start, then take
    // the rest while it runs.
    let filler = disk.path().join("filler");
    {
        let mut f = std::fs::File::create(&filler).unwrap();
        top_up(&mut f);
        let len = f.metadata().unwrap().len();
        f.set_len(len.saturating_sub(2 << 20)).unwrap();
    }
    let items: Vec<Value> = (1..=CASES)
        .map(|i| json!({"caseId": format!("CASE-{i:06}"), "fields": {"bulk": true}}))
        .collect();
    let res = http
        .patch(format!("{base}/api/v1/cases/bulk-update"))
        .json(&items)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let job_id = res.json::<Value>().await.unwrap()["jobId"]
        .as_str()
        .unwrap()
        .to_owned();
    let hog = Hog::fill(filler);
    let full_at = Instant::now();
    println!("disk filled; {} bytes free", free_bytes(disk.path()));

    // Writes answer 503 service_unavailable, never 500; /readyz goes 503.
    let mut n = 100;
    let mut saw_503 = false;
    let mut not_ready = false;
    while !(saw_503 && not_ready) {
        assert!(
            full_at.elapsed() < Duration::from_secs(15),
            "503: {saw_503}, /readyz 503: {not_ready}"
        );
        n += 1;
        let (status, headers, body) = patch(&http, &base, n).await;
        match status {
            200 => {
                acked.insert(n, ());
            }
            503 => {
                assert_eq!(body["code"], "service_unavailable", "{body}");
                assert!(headers.contains_key("retry-after"), "{headers:?}");
                assert_eq!(
                    headers["content-type"], "application/problem+json",
                    "{headers:?}"
                );
                saw_503 = true;
            }
            other => panic!("a write on a full disk answered {other}: {body}"),
        }
        not_ready = readyz(&http, &base).await == 503;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("full: 503 and not ready after {:?}", full_at.elapsed());

    // While the disk stays full: still 503s and not ready, and the job does not complete
    // nor move.
    let stuck = job(&http, &base, &job_id).await;
    assert_ne!(stuck["status"], "completed", "{stuck}");
    let held = Instant::now();
    while held.elapsed() < Duration::from_secs(5) {
        n += 1;
        let (status, _, body) = patch(&http, &base, n).await;
        assert_eq!(status, 503, "a write on a full disk: {body}");
        assert_eq!(readyz(&http, &base).await, 503);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let still = job(&http, &base, &job_id).await;
    assert_eq!(
        still["processed"], stuck["processed"],
        "{stuck} then {still}"
    );
    assert_ne!(still["status"], "completed", "{still}");
    assert!(
        still["stalled"].is_object(),
        "a job held by a full disk does not say why: {still}"
    );
    println!(
        "job held at {} of {} while full",
        still["processed"], still["total"]
    );

    // Free the space: ready again, the job completes, writes succeed.
    hog.free();
    let freed_at = Instant::now();
    while readyz(&http, &base).await != 200 {
        assert!(
            freed_at.elapsed() < Duration::from_secs(30),
            "not ready 30 s after space was freed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("ready {:?} after space was freed", freed_at.elapsed());
    // The disk does not fill again by itself: free space stays above a few MiB for 10 s
    // while the job finishes and writes go on.
    let mut least = u64::MAX;
    let mut done = Value::Null;
    while freed_at.elapsed() < Duration::from_secs(12) || done["status"] != "completed" {
        assert!(
            freed_at.elapsed() < Duration::from_secs(30),
            "the job did not complete within 30 s of space being freed: {done}"
        );
        least = least.min(free_bytes(disk.path()));
        n += 1;
        let (status, _, body) = patch(&http, &base, n).await;
        assert_eq!(status, 200, "a write after space was freed: {body}");
        acked.insert(n, ());
        done = job(&http, &base, &job_id).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("least free after recovery: {least} bytes");
    assert!(least > 8 << 20, "the disk filled again: {least} bytes free");
    assert_eq!(done["succeeded"], CASES, "{done}");
    assert!(done["stalled"].is_null(), "{done}");
    assert!(reserve.exists(), "the reserve was not written back");

    // Nothing acknowledged was lost.
    for n in acked.keys() {
        let case: Value = http
            .get(format!("{base}/api/v1/cases/CASE-{n:06}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            case["fields"]["probe"], *n,
            "an acknowledged write was lost: {case}"
        );
        assert_eq!(case["fields"]["bulk"], true, "{case}");
    }

    server.stop();
    let conn = rusqlite::Connection::open(&db_path).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    drop(conn);

    // The log says so once, not per attempt. The store's own lines: one when writes
    // stop, one when they resume, and the reserve and checkpoint going and coming back.
    let log = std::fs::read_to_string(&log_path).unwrap();
    let store_lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("store::sqlite"))
        .collect();
    for l in &store_lines {
        println!("  {l}");
    }
    let count = |what: &str| store_lines.iter().filter(|l| l.contains(what)).count();
    assert_eq!(count("refusing writes"), 1, "{store_lines:#?}");
    assert_eq!(count("accepting writes again"), 1, "{store_lines:#?}");
    assert!(store_lines.len() <= 8, "{store_lines:#?}");
    // Everything that mentions it, other modules too (the worker, the request path): a
    // handful in all, not one per refused request or retried step.
    let full_lines = log
        .lines()
        .filter(|l| l.contains("disk is full") || l.contains("disk full"))
        .count();
    println!(
        "{full_lines} 'disk is full' log lines of {}",
        log.lines().count()
    );
    assert!(
        full_lines <= 10,
        "the log floods: {full_lines} 'disk is full' lines"
    );
    drop(disk);
}
