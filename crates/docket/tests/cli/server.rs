//! The real `docket` binary as a child process.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub fn docket() -> Command {
    Command::new(env!("CARGO_BIN_EXE_docket"))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Server {
    child: Child,
    pub base: String,
}

impl Server {
    /// Starts `docket serve` with `dir/docket.toml` and waits until it is ready.
    pub async fn start(dir: &Path, db: &str) -> Self {
        Self::start_on(dir, db, free_port()).await
    }

    /// As [`Server::start`], on a given port (to restart a server where clients expect it).
    pub async fn start_on(dir: &Path, db: &str, port: u16) -> Self {
        let child = docket()
            .args([
                "serve",
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--database-url",
                db,
                "--config",
            ])
            .arg(dir.join("docket.toml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        for _ in 0..300 {
            if let Ok(r) = http.get(format!("{}/readyz", server.base)).send().await {
                if r.status().is_success() {
                    return server;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("server did not become ready");
    }

    /// SIGTERM, then waits (at most 60 s) for the process to exit: its exit status and
    /// how long it took.
    pub fn terminate(mut self) -> (std::process::ExitStatus, Duration) {
        let started = std::time::Instant::now();
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -TERM failed");
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, started.elapsed());
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the server did not exit within 60 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
