//! `docket changes` (pages, and `--follow` across a server restart) and
//! `docket cases delete`.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::run::{cli, command, seed, seeded, setup};
use crate::server::{Server, free_port};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_lists_the_feed_and_cases_delete_deletes() {
    let (_dir, server) = seeded(3, "").await;
    let b = &server.base;
    let deleted = cli(b, &["cases", "delete", "CASE-000002", "-o", "json"])
        .expect(0)
        .json();
    assert_eq!(deleted["deleted"], true);
    assert!(deleted["consistencyToken"].as_str().is_some());
    let again = cli(b, &["cases", "delete", "CASE-000002"]).expect(2);
    assert!(again.stderr.contains("case_not_found"), "{again}");
    let stale = cli(b, &["cases", "delete", "CASE-000001", "--if-match", "9"]).expect(2);
    assert!(stale.stderr.contains("version_conflict"), "{stale}");

    // One JSON document per line, in position order.
    let out = cli(b, &["changes", "-o", "json"]).expect(0);
    let changes: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let types: Vec<&str> = changes
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "case.created",
            "case.created",
            "case.created",
            "case.deleted"
        ]
    );
    let table = cli(b, &["changes", "--type", "case.deleted"]).expect(0);
    assert_eq!(table.stdout.lines().count(), 1, "{table}");
    assert!(
        table.stdout.contains("case.deleted\tCASE-000002\tv"),
        "{table}"
    );
    let after = changes[2]["position"].as_str().unwrap();
    let rest = cli(b, &["changes", "--after", after, "-o", "json"]).expect(0);
    assert_eq!(rest.stdout.lines().count(), 1, "{rest}");
    let bad = cli(b, &["changes", "--type", "case.exploded"]).expect(2);
    assert!(bad.stderr.contains("invalid_query"), "{bad}");
}

/// `docket changes --follow`, its stdout read line by line.
struct Follower {
    child: Child,
    lines: Receiver<String>,
}

impl Follower {
    fn start(base: &str) -> Self {
        let mut child = command()
            .args([
                "--server", base, "changes", "--follow", "--after", "now", "-o", "json",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Self { child, lines }
    }

    fn next(&self) -> Value {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(60))
            .expect("no change printed");
        serde_json::from_str(&line).unwrap()
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn patch(base: &str, case: &str, assignee: &str) {
    let res = reqwest::Client::new()
        .patch(format!("{base}/api/v1/cases/{case}"))
        .json(&json!({"assignee": assignee}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_follow_prints_each_change_once_across_a_server_restart() {
    let (dir, db) = setup("");
    seed(&db, 2);
    let port = free_port();
    let server = Server::start_on(dir.path(), &db, port).await;
    let base = server.base.clone();
    let follower = Follower::start(&base);
    // Until the follower has fixed `now`, a change may come before it: wait for one.
    let start = Instant::now();
    let mut n = 0;
    let first = loop {
        // A change each time (the same value twice would change nothing).
        n += 1;
        patch(&base, "CASE-000001", ["ann", "bob"][n % 2]).await;
        if let Ok(line) = follower.lines.recv_timeout(Duration::from_millis(500)) {
            break serde_json::from_str::<Value>(&line).unwrap();
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the follower printed nothing"
        );
    };
    assert_eq!(first["type"], "case.updated");
    // The server goes away and comes back; a change made after is printed once.
    server.terminate();
    let server = Server::start_on(dir.path(), &db, port).await;
    patch(&server.base, "CASE-000002", "after-restart").await;
    let mut seen = vec![first];
    loop {
        let c = follower.next();
        let done = c["caseId"] == "CASE-000002";
        seen.push(c);
        if done {
            break;
        }
    }
    let positions: Vec<i64> = seen
        .iter()
        .map(|c| c["position"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    assert_eq!(seen.last().unwrap()["changes"][0]["to"], "after-restart");
}
