//! Running the `docket` CLI against a test server, and a seeded server to run it on.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;
use tempfile::TempDir;

use crate::server::{Server, docket};

/// What one run of the CLI did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The stdout as JSON (for `--output json` runs).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self}"))
    }

    /// Asserts the exit code, showing everything when it is another.
    #[track_caller]
    pub fn expect(self, code: i32) -> Self {
        assert_eq!(self.code, code, "unexpected exit code\n{self}");
        self
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// `docket` with no DOCKET_* variables from the environment that runs the tests.
pub fn command() -> Command {
    let mut c = docket();
    c.env_remove("DOCKET_URL").env_remove("DOCKET_API_KEY");
    c
}

/// Runs `docket --server <base> <args>`.
pub fn cli(base: &str, args: &[&str]) -> Run {
    cli_stdin(base, args, "")
}

/// Runs `docket --server <base> <args>` with `stdin` on its standard input.
pub fn cli_stdin(base: &str, args: &[&str], stdin: &str) -> Run {
    let mut child = command()
        .arg("--server")
        .arg(base)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_owned();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(stdin.as_bytes());
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A directory with `docket.toml` (quiet logs plus `extra`) and a database URL in it.
pub fn setup(extra: &str) -> (TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("docket.toml"),
        format!("[log]\nfilter = \"warn\"\n{extra}"),
    )
    .unwrap();
    let db = format!("sqlite://{}", dir.path().join("docket.db").display());
    (dir, db)
}

/// Writes `n` demo cases (CASE-000001...) into the database.
pub fn seed(db: &str, n: usize) {
    let out = docket()
        .args(["seed", "--database-url", db, "--cases", &n.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A server on a fresh database with `n` demo cases and `extra` configuration.
pub async fn seeded(n: usize, extra: &str) -> (TempDir, Server) {
    let (dir, db) = setup(extra);
    seed(&db, n);
    let server = Server::start(dir.path(), &db).await;
    (dir, server)
}

/// Writes `text` to `dir/name` and returns the path as a string.
pub fn file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// `GET /api/v1/jobs`: every job the server has.
pub async fn jobs(base: &str) -> Vec<Value> {
    let page: Value = reqwest::get(format!("{base}/api/v1/jobs?limit=1000"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page["items"].as_array().unwrap().clone()
}
