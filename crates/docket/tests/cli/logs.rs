//! Structured logs: with `--log-format json`, a log line written while serving a request
//! carries that request's `X-Request-Id`.

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::run::setup;
use crate::server::{docket, free_port};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_log_lines_of_a_request_carry_its_request_id() {
    let (dir, db) = setup("");
    std::fs::write(dir.path().join("docket.toml"), "[log]\nfilter = \"info\"\n").unwrap();
    let port = free_port();
    let mut child = docket()
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--database-url",
            &db,
        ])
        .args(["--log-format", "json", "--config"])
        .arg(dir.path().join("docket.toml"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, lines) = channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while http.get(format!("{base}/readyz")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "server did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let res = http
        .patch(format!("{base}/api/v1/settings"))
        .header("x-request-id", "log-test-7")
        .json(&serde_json::json!({"CaseManagement.CacheTimeout": 60}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.headers()["x-request-id"], "log-test-7");
    let until = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    let found = loop {
        let Ok(line) = lines.recv_timeout(Duration::from_millis(100)) else {
            assert!(
                Instant::now() < until,
                "no 'settings changed' line:\n{}",
                seen.join("\n")
            );
            continue;
        };
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("a log line is not JSON ({e}): {line}"));
        if v["fields"]["message"] == "settings changed" {
            break v;
        }
        seen.push(line);
    };
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(found["span"]["request_id"], "log-test-7", "{found}");
    assert_eq!(found["span"]["route"], "/api/v1/settings", "{found}");
}
