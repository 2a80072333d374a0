//! Crash recovery with the real binary: `kill -9` the server in the middle of a
//! 200,000-item job, of a job by filter, and right after a `200`, restart it on the same
//! SQLite file, and check every item was applied exactly once.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::server::{Server, docket};

const CASES: usize = 200_000;

fn setup() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("docket.toml"),
        "[server]\nmax_body_bytes = 67108864\n[log]\nfilter = \"warn\"\n[jobs]\nchunk_group_ms = 100\n[settings]\n\"Jobs.MaxItemsPerRequest\" = 200000\n",
    )
    .unwrap();
    let db = format!("sqlite://{}", dir.path().join("docket.db").display());
    (dir, db)
}

/// Every item sets a new custom field, adds a note, and demands version 1: applying an
/// item twice would fail it with `version_conflict` (and a second note would show in
/// `commentCount`), skipping one would leave the case at 1.
pub fn items(n: usize) -> Value {
    json!((1..=n).map(|i| json!({"caseId": format!("CASE-{i:06}"), "fields": {"migrated": true}, "expectedVersion": 1, "comment": {"body": "migrated"}})).collect::<Vec<_>>())
}

pub async fn status(http: &reqwest::Client, base: &str, job: &str, wait: u32) -> Value {
    http.get(format!(
        "{base}/api/v1/jobs/{job}/status?waitSeconds={wait}"
    ))
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap()
}

pub async fn wait_completed(http: &reqwest::Client, base: &str, job: &str) -> Value {
    let started = Instant::now();
    loop {
        let st = status(http, base, job, 10).await;
        if st["status"] == "completed" || started.elapsed() > Duration::from_secs(300) {
            return st;
        }
    }
}

/// Waits until `job` has processed at least `after` of its `total` items, then
/// `kill -9`s the server, checking it died with the job part done.
async fn kill_mid_job(server: Server, http: &reqwest::Client, job: &str, after: u64, total: u64) {
    let mut processed = 0;
    for _ in 0..6000 {
        processed = status(http, &server.base, job, 0).await["processed"]
            .as_u64()
            .unwrap();
        if processed >= after {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill9();
    assert!(
        processed >= after && processed < total,
        "killed at {processed}: not mid-job"
    );
}

/// Pages through every case and checks each one moved exactly once.
pub async fn assert_every_case_applied_once(http: &reqwest::Client, base: &str, n: usize) {
    let mut cursor: Option<String> = None;
    let mut seen = 0;
    loop {
        let mut url = format!("{base}/api/v1/cases?limit=1000");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = http.get(url).send().await.unwrap().json().await.unwrap();
        for c in page["items"].as_array().unwrap() {
            assert_eq!(
                c["version"], 2,
                "case {} applied other than once",
                c["caseId"]
            );
            assert_eq!(c["fields"]["migrated"], true);
            assert_eq!(
                c["commentCount"], 1,
                "case {} noted other than once",
                c["caseId"]
            );
            seen += 1;
        }
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_mid_job_then_restart_applies_every_item_exactly_once() {
    let (dir, db) = setup();
    let seeded = docket()
        .args(["seed", "--database-url", &db, "--cases", &CASES.to_string()])
        .output()
        .unwrap();
    assert!(
        seeded.status.success(),
        "{}",
        String::from_utf8_lossy(&seeded.stderr)
    );
    let http = reqwest::Client::new();

    let server = Server::start(dir.path(), &db).await;
    let res = http
        .patch(format!("{}/api/v1/cases/bulk-update", server.base))
        .json(&items(CASES))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let job = res.json::<Value>().await.unwrap()["jobId"]
        .as_str()
        .unwrap()
        .to_owned();
    // Let it get well into the job, then pull the plug.
    kill_mid_job(server, &http, &job, 20_000, CASES as u64).await;

    let server = Server::start(dir.path(), &db).await;
    let done = wait_completed(&http, &server.base, &job).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["total"], CASES);
    assert_eq!(done["succeeded"], CASES, "{done}");
    assert_eq!(
        done["failed"], 0,
        "an item was applied twice (version_conflict): {done}"
    );
    assert_every_case_applied_once(&http, &server.base, CASES).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_right_after_the_200_loses_nothing() {
    let (dir, db) = setup();
    let seeded = docket()
        .args(["seed", "--database-url", &db, "--cases", "1000"])
        .output()
        .unwrap();
    assert!(seeded.status.success());
    let http = reqwest::Client::new();
    let server = Server::start(dir.path(), &db).await;
    let res = http
        .patch(format!("{}/api/v1/cases/bulk-update", server.base))
        .json(&items(1000))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    server.kill9();
    let job = res.json::<Value>().await.unwrap()["jobId"]
        .as_str()
        .unwrap()
        .to_owned();

    let server = Server::start(dir.path(), &db).await;
    let done = wait_completed(&http, &server.base, &job).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["succeeded"], 1000);
    assert_every_case_applied_once(&http, &server.base, 1000).await;
}

/// The ids of every case in `status`.
async fn ids_in(http: &reqwest::Client, base: &str, status: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let url = format!("{base}/api/v1/cases?status={status}&limit=1000{cursor}");
        let page: Value = http.get(url).send().await.unwrap().json().await.unwrap();
        for c in page["items"].as_array().unwrap() {
            out.push(c["caseId"].as_str().unwrap().to_owned());
        }
        match page["nextCursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return out,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_mid_filter_job_then_restart_applies_every_match_exactly_once() {
    let (dir, db) = setup();
    let seeded = docket()
        .args(["seed", "--database-url", &db, "--cases", &CASES.to_string()])
        .output()
        .unwrap();
    assert!(
        seeded.status.success(),
        "{}",
        String::from_utf8_lossy(&seeded.stderr)
    );
    let http = reqwest::Client::new();
    let server = Server::start(dir.path(), &db).await;
    let open = ids_in(&http, &server.base, "Open").await;
    assert!(open.len() > 10_000, "{} open cases", open.len());
    // Applied twice, an item would fail its precondition: the case is no longer Open.
    let body = json!({"filter": {"status": "Open"},
        "set": {"status": "In Progress", "if": {"status": ["Open"]}},
        "options": {"expectedCount": open.len()}});
    let res = http
        .patch(format!("{}/api/v1/cases/bulk-update", server.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let job = res.json::<Value>().await.unwrap()["jobId"]
        .as_str()
        .unwrap()
        .to_owned();
    kill_mid_job(server, &http, &job, 2_000, open.len() as u64).await;

    let server = Server::start(dir.path(), &db).await;
    let done = wait_completed(&http, &server.base, &job).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["total"], open.len());
    assert_eq!(
        done["failed"], 0,
        "an item was applied twice (precondition_failed): {done}"
    );
    assert!(ids_in(&http, &server.base, "Open").await.is_empty());
    let moved: std::collections::HashSet<String> = ids_in(&http, &server.base, "In%20Progress")
        .await
        .into_iter()
        .collect();
    for id in &open {
        assert!(moved.contains(id), "{id} was not moved");
    }
}

/// Rows of `table` in the SQLite file `db` (read beside the stopped server).
fn rows(db: &str, table: &str) -> i64 {
    let path = db.trim_start_matches("sqlite://");
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

/// Sends a 200,000-item bulk update in pieces and `kill -9`s the server once `cut`
/// of the pieces are sent (`None`: once the body's end has been taken, while the server
/// reads and stores it). The client gets no `200`; after a restart no job and no item
/// of it exists.
async fn kill_mid_submit(cut: Option<usize>) {
    let (dir, db) = setup();
    let seeded = docket()
        .args(["seed", "--database-url", &db, "--cases", "1000"])
        .output()
        .unwrap();
    assert!(seeded.status.success());
    let server = Server::start(dir.path(), &db).await;
    let body = items(CASES).to_string().into_bytes();
    let pieces: Vec<Vec<u8>> = body.chunks(64 * 1024).map(<[u8]>::to_vec).collect();
    let total = pieces.len();
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    let (ended_tx, ended) = tokio::sync::oneshot::channel::<()>();
    let stream =
        futures_util::stream::unfold((rx, Some(ended_tx)), |(mut rx, mut ended)| async move {
            match rx.recv().await {
                Some(piece) => Some((Ok::<_, std::io::Error>(piece), (rx, ended))),
                None => {
                    if let Some(e) = ended.take() {
                        let _ = e.send(());
                    }
                    None
                }
            }
        });
    let send = tokio::spawn(
        reqwest::Client::new()
            .patch(format!("{}/api/v1/cases/bulk-update", server.base))
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(stream))
            .send(),
    );
    for piece in pieces.into_iter().take(cut.unwrap_or(total)) {
        tx.send(piece).await.unwrap();
    }
    if cut.is_none() {
        drop(tx);
        ended.await.unwrap();
    } else {
        // Let the server take what was sent.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server.kill9();
    if let Ok(res) = send.await.unwrap() {
        assert_ne!(
            res.status().as_u16(),
            200,
            "the submit was answered before the kill"
        );
    }
    assert_eq!((rows(&db, "jobs"), rows(&db, "job_items")), (0, 0));
    // And the restarted server knows no job.
    let server = Server::start(dir.path(), &db).await;
    let jobs: Value = reqwest::get(format!("{}/api/v1/jobs", server.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jobs["items"], json!([]), "{jobs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_mid_upload_of_a_streamed_submit_leaves_no_job_and_no_item() {
    kill_mid_submit(Some(80)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_while_a_streamed_submit_is_stored_leaves_no_job_and_no_item() {
    kill_mid_submit(None).await;
}
