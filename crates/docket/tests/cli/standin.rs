//! The CLI against a stand-in server on a raw socket: what it sends (global flags, the
//! API key), how it shows the server's errors, and how it waits when the server has no
//! event stream or long-poll.

use std::io::{BufRead as _, BufReader, Write as _};

use crate::run::{cli, command};

/// An answer of the stand-in server: status line, content type, body.
type Answer = (&'static str, &'static str, String);

/// A stand-in server on a raw socket: answers each request with `answer(n, head)` (`n`
/// counts requests from 0) and hands back the request heads it saw.
fn fake_server(
    answer: impl Fn(usize, &str) -> Answer + Send + 'static,
) -> (String, std::sync::mpsc::Receiver<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { return };
            let mut head = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let (status, content_type, body) = answer(n, &head);
            let _ = tx.send(head);
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (base, rx)
}

fn problem(status: u16, code: &str, detail: &str) -> String {
    serde_json::json!({"type": "about:blank", "title": code, "status": status, "detail": detail, "code": code})
        .to_string()
}

fn job_status(state: &str, processed: u64) -> String {
    serde_json::json!({
        "jobId": "job-1", "type": "bulk-update", "status": state,
        "outcome": (state == "completed").then_some("succeeded"),
        "total": 10, "processed": processed, "succeeded": processed, "failed": 0,
        "cancelled": 0, "progress": processed as f64 * 10.0, "queuePosition": null,
        "createdAt": "2026-01-01T00:00:00.000Z", "startedAt": null, "completedAt": null,
        "durationMs": null, "consistencyToken": null
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_event_stream_or_long_poll_the_wait_falls_back_to_polling() {
    // No event stream (404: no such route), the status answered at once despite
    // ?waitSeconds, and the job ended by the fourth status request.
    let polls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = polls.clone();
    let (base, heads) = fake_server(move |_, head| {
        let path = head.split(' ').nth(1).unwrap_or("").to_owned();
        if path.ends_with("/events") {
            return (
                "404 Not Found",
                "application/problem+json",
                problem(404, "not_found", "no route"),
            );
        }
        let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if n < 3 {
            ("200 OK", "application/json", job_status("running", 5))
        } else {
            ("200 OK", "application/json", job_status("completed", 10))
        }
    });
    let out = cli(&base, &["jobs", "watch", "job-1", "-o", "json"]).expect(0);
    assert_eq!(out.json()["succeeded"], 10, "{out}");
    let paths: Vec<String> = heads
        .try_iter()
        .map(|h| h.split(' ').nth(1).unwrap_or("").to_owned())
        .collect();
    assert_eq!(
        paths,
        vec![
            "/api/v1/jobs/job-1/status",
            "/api/v1/jobs/job-1/events",
            "/api/v1/jobs/job-1/status?waitSeconds=10",
            "/api/v1/jobs/job-1/status",
            "/api/v1/jobs/job-1/status",
        ],
        "stream, then long-poll, then polling"
    );
    assert_eq!(polls.load(std::sync::atomic::Ordering::SeqCst), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_flags_go_anywhere_and_errors_show_the_problem_code() {
    let (base, heads) = fake_server(|_, _| {
        let body = problem(503, "service_unavailable", "the store is busy");
        ("503 Service Unavailable", "application/problem+json", body)
    });
    // --api-key after the subcommand, --server before it.
    let out = command()
        .args([
            "--server",
            &base,
            "cases",
            "get",
            "CASE-1",
            "--api-key",
            "k-123",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("service_unavailable (503): the store is busy"),
        "{stderr}"
    );
    let head = heads.recv().unwrap().to_ascii_lowercase();
    assert!(head.starts_with("get /api/v1/cases/case-1 "), "{head}");
    assert!(head.contains("authorization: bearer k-123"), "{head}");
    // From the environment.
    let out = command()
        .args(["jobs", "list"])
        .env("DOCKET_URL", &base)
        .env("DOCKET_API_KEY", "k-env")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        heads
            .recv()
            .unwrap()
            .to_ascii_lowercase()
            .contains("authorization: bearer k-env")
    );

    // Nothing listening: a network error, exit 3, without a debug dump.
    let port = crate::server::free_port();
    let down = cli(&format!("http://127.0.0.1:{port}"), &["jobs", "list"]).expect(3);
    assert!(
        down.stderr
            .contains("cannot reach the server at http://127.0.0.1:"),
        "{down}"
    );
    assert!(!down.stderr.contains("Transport("), "{down}");

    // Usage errors exit 2; --help documents the exit codes.
    let bad = cli("127.0.0.1:8080", &["jobs", "list"]).expect(2);
    assert!(
        bad.stderr.contains("not an http:// or https:// URL"),
        "{bad}"
    );
    cli(&base, &["cases", "frobnicate"]).expect(2);
    cli(&base, &["bulk-update"]).expect(2);
    cli(&base, &["jobs", "list", "--output", "yaml"]).expect(2);
    let help = cli(&base, &["--help"]).expect(0);
    assert!(
        help.stdout.contains("Exit codes:") && help.stdout.contains("4  stopped waiting"),
        "{help}"
    );
}
