//! `docket check-consistency` against real servers: it passes under the defaults and
//! fails (exit 1, saying so) against the legacy `ttl` cache mode.

use std::path::Path;

use crate::server::{Server, docket};

fn config(dir: &Path, mode: &str) -> String {
    std::fs::write(
        dir.join("docket.toml"),
        format!("[log]\nfilter = \"warn\"\n[settings]\n\"CaseManagement.BulkUpdateCacheInvalidation\" = \"{mode}\"\n"),
    )
    .unwrap();
    format!("sqlite://{}", dir.join("docket.db").display())
}

fn check(base: &str, cases: &str) -> std::process::Output {
    docket()
        .args(["check-consistency", "--server", base, "--cases", cases])
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_consistency_passes_under_the_default_settings() {
    let dir = tempfile::tempdir().unwrap();
    let db = config(dir.path(), "immediate");
    let server = Server::start(dir.path(), &db).await;
    let out = check(&server.base, "300");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("stale reads: 0 of 300"), "{text}");
    assert!(text.contains("job time:"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_consistency_fails_against_the_legacy_ttl_cache() {
    let dir = tempfile::tempdir().unwrap();
    let db = config(dir.path(), "ttl");
    let server = Server::start(dir.path(), &db).await;
    let out = check(&server.base, "300");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("stale reads: 300 of 300 (100.0%)"), "{text}");
}
