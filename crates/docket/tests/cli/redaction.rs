//! The database password is never shown: not by `--help` (which shows the values of
//! environment variables), not in the errors that name the URL, not in the start-up log.

use std::io::{BufRead as _, BufReader};
use std::process::{Output, Stdio};
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use crate::server::{docket, free_port};

const SECRET: &str = "s3cret";
/// Nothing listens on port 1 of the loopback address: the connection is refused.
const UNREACHABLE: &str = "postgres://u:s3cret@127.0.0.1:1/db";

fn shown(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `DOCKET_TEST_DATABASE_URL` with `s3cret` as its password (the test server trusts
/// local connections, so any password does) and a fresh schema, when it is set.
fn pg_url_with_password() -> Option<String> {
    let base = std::env::var("DOCKET_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    let (scheme, rest) = base.split_once("://")?;
    let (user, host) = rest.split_once('@')?;
    let user = user.split(':').next().unwrap_or_default();
    let sep = if host.contains('?') { '&' } else { '?' };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let schema = format!("dkt_redact_{:x}_{nanos:x}", std::process::id());
    Some(format!(
        "{scheme}://{user}:{SECRET}@{host}{sep}schema={schema}"
    ))
}

#[test]
fn serve_help_does_not_show_the_password_of_the_database_url_in_the_environment() {
    for cmd in [&["serve", "--help"][..], &["seed", "--help"][..]] {
        let out = docket()
            .args(cmd)
            .env("DOCKET_DATABASE_URL", UNREACHABLE)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", shown(&out));
        let text = shown(&out);
        assert!(text.contains("DOCKET_DATABASE_URL"), "{text}");
        assert!(
            !text.contains(SECRET),
            "{cmd:?} shows the password:\n{text}"
        );
    }
}

#[test]
fn a_failed_start_does_not_show_the_password_of_the_database_url() {
    let dir = tempfile::tempdir().unwrap();
    let mut urls = vec![
        UNREACHABLE.to_owned(),
        "mysql://u:s3cret@127.0.0.1:1/db".to_owned(),
    ];
    // Reachable, but an empty store refuses a public address, naming the command that
    // makes a key with the database URL in it.
    match pg_url_with_password() {
        Some(u) => urls.push(u),
        None => eprintln!("skipped the PostgreSQL case: DOCKET_TEST_DATABASE_URL is not set"),
    }
    for url in &urls {
        let out = docket()
            .args(["serve", "--database-url", url, "--bind", "0.0.0.0:0"])
            .env_remove("DOCKET_DATABASE_URL")
            .current_dir(dir.path())
            .output()
            .unwrap();
        let text = shown(&out);
        assert!(!out.status.success(), "{url}: {text}");
        assert!(
            !text.contains(SECRET),
            "{url}: the password is shown:\n{text}"
        );
        if url.contains("schema=") {
            assert!(text.contains("refusing to serve"), "{text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_start_up_log_names_the_database_without_its_password() {
    let Some(url) = pg_url_with_password() else {
        eprintln!(
            "skipped: DOCKET_TEST_DATABASE_URL is not set, so this PostgreSQL test did not run"
        );
        return;
    };
    let port = free_port();
    let mut child = docket()
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--database-url",
            &url,
        ])
        .env("DOCKET_LOG", "info")
        .env_remove("DOCKET_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, lines) = channel();
    for out in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
    }
    let until = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    let listening = loop {
        let Ok(line) = lines.recv_timeout(Duration::from_millis(100)) else {
            assert!(
                Instant::now() < until,
                "no 'docket listening' line:\n{}",
                seen.join("\n")
            );
            continue;
        };
        if line.contains("docket listening") {
            break line;
        }
        seen.push(line);
    };
    let _ = child.kill();
    let _ = child.wait();
    for line in seen.iter().chain([&listening]) {
        assert!(!line.contains(SECRET), "the password is logged: {line}");
    }
    assert!(listening.contains(":***@"), "{listening}");
}
