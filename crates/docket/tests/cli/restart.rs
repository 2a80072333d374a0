//! Waiting through a server restart: `kill -9` the server in the middle of a job that
//! `docket bulk-update --wait` is following, start it again on the same database and
//! port; the wait reconnects, resumes and ends with every item applied once. A second
//! watcher, interrupted while the server is down, stops waiting (exit 4) and says how to
//! resume.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use crate::run::{cli, command, file, seed, setup};
use crate::server::{Server, free_port};

const CASES: usize = 5000;

/// The CLI as a child process, its stderr lines arriving on a channel.
struct Running {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(base: &str, args: &[&str]) -> Self {
        let mut child = command()
            .arg("--server")
            .arg(base)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a stderr line containing `text`.
    fn wait_for(&mut self, text: &str) {
        let until = Instant::now() + Duration::from_secs(60);
        while Instant::now() < until {
            if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(100)) {
                let found = line.contains(text);
                self.seen.push(line);
                if found {
                    return;
                }
            }
        }
        panic!("no '{text}' on stderr:\n{}", self.seen.join("\n"));
    }

    /// Waits for the exit; returns the code, stdout and all of stderr.
    fn finish(mut self, within: Duration) -> (i32, String, String) {
        let until = Instant::now() + within;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(
                Instant::now() < until,
                "the CLI did not finish:\n{}",
                self.seen.join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut stdout = String::new();
        std::io::Read::read_to_string(&mut self.child.stdout.take().unwrap(), &mut stdout).unwrap();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(500)) {
            self.seen.push(line);
        }
        (status.code().unwrap_or(-1), stdout, self.seen.join("\n"))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wait_survives_a_server_killed_and_restarted_mid_job() {
    // One item per chunk keeps the job running for a few seconds; a short lease lets the
    // restarted server take over the dead one's job at once.
    let (dir, db) = setup(
        "[jobs]\nlease_seconds = 1\nchunk_group_ms = 0\n[settings]\n\"Jobs.ChunkSize\" = 1\n",
    );
    seed(&db, CASES);
    let port = free_port();
    let server = Server::start_on(dir.path(), &db, port).await;
    let base = server.base.clone();
    let mut rows = String::from("caseId,expectedVersion,fields.moved\n");
    for i in 1..=CASES {
        rows.push_str(&format!("CASE-{i:06},1,yes\n"));
    }
    let moves = file(dir.path(), "moves.csv", &rows);

    let mut waiter = Running::start(
        &base,
        &["bulk-update", &moves, "--wait", "--timeout", "120"],
    );
    waiter.wait_for("waiting for 1 job");
    let http = reqwest::Client::new();
    let job = crate::run::jobs(&base).await[0]["jobId"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut watcher = Running::start(&base, &["jobs", "watch", &job]);
    watcher.wait_for("waiting for 1 job");
    let mut processed = 0;
    for _ in 0..2000 {
        let st: serde_json::Value = http
            .get(format!("{base}/api/v1/jobs/{job}/status"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        processed = st["processed"].as_u64().unwrap();
        if processed >= 100 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill9();
    assert!(
        (100..CASES as u64).contains(&processed),
        "killed at {processed}: not mid-job"
    );

    // While the server is down: both notice; Ctrl-C stops one waiting, not the job.
    waiter.wait_for("reconnecting");
    watcher.wait_for("reconnecting");
    let interrupt = std::process::Command::new("kill")
        .args(["-INT", &watcher.child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupt.success());
    let (code, _, stderr) = watcher.finish(Duration::from_secs(10));
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains(&format!("docket jobs watch {job}")),
        "{stderr}"
    );

    let server = Server::start_on(dir.path(), &db, port).await;
    let (code, stdout, stderr) = waiter.finish(Duration::from_secs(120));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stderr.contains("reconnected"), "{stderr}");
    assert!(
        stdout.contains(&format!("{CASES} items: {CASES} succeeded, 0 failed")),
        "{stdout}\n{stderr}"
    );

    // Every case moved exactly once (expectedVersion 1: a second application would fail).
    let listed = cli(&server.base, &["cases", "list", "--all", "-o", "json"])
        .expect(0)
        .json();
    let cases = listed["items"].as_array().unwrap();
    assert_eq!(cases.len(), CASES);
    assert!(
        cases
            .iter()
            .all(|c| c["version"] == 2 && c["fields"]["moved"] == "yes")
    );
}
