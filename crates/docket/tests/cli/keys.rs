//! `docket keys`: the first key made in the store, the next ones through the server's
//! admin API, scopes enforced, revocation; and `docket serve` refusing a public address
//! while no key exists.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::run::{cli, command, seed, setup};
use crate::server::{Server, docket, free_port};

/// `docket <args>` with no `--server`.
fn local(args: &[&str]) -> crate::run::Run {
    let out = command().args(args).output().unwrap();
    crate::run::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_key_is_made_in_the_store_and_the_rest_through_the_server() {
    let (dir, db) = setup("");
    seed(&db, 5);
    let first = local(&[
        "keys",
        "create",
        "--database-url",
        &db,
        "--scope",
        "admin",
        "--name",
        "ops",
        "-o",
        "json",
    ])
    .expect(0)
    .json();
    let admin = first["token"].as_str().unwrap().to_owned();
    assert_eq!(first["name"], "ops");
    // A bad scope is an input error; nothing is stored.
    let bad = local(&["keys", "create", "--database-url", &db, "--scope", "root"]).expect(2);
    assert!(bad.stderr.contains("scopes[0]"), "{bad}");

    let server = Server::start(dir.path(), &db).await;
    let b = &server.base;
    // No key: 401, exit 3. The admin key: fine.
    let refused = cli(b, &["cases", "list"]).expect(3);
    assert!(refused.stderr.contains("unauthorized"), "{refused}");
    cli(b, &["--api-key", &admin, "cases", "list"]).expect(0);

    // A read-only key, made through the server; the table output shows the token once.
    let made = cli(
        b,
        &[
            "--api-key",
            &admin,
            "keys",
            "create",
            "--scope",
            "cases:read",
            "--name",
            "reader",
        ],
    )
    .expect(0);
    let reader = made
        .stdout
        .lines()
        .find(|l| l.starts_with("dkt_"))
        .unwrap_or_else(|| panic!("no token printed\n{made}"))
        .to_owned();
    let listed = cli(b, &["--api-key", &admin, "keys", "list", "-o", "json"])
        .expect(0)
        .json();
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(!listed.to_string().contains("dkt_"), "a token was listed");
    let reader_id = items[1]["keyId"].as_str().unwrap().to_owned();

    // Scopes: the reader may list cases, not change settings or make keys.
    cli(b, &["--api-key", &reader, "cases", "get", "CASE-000001"]).expect(0);
    let forbidden = cli(
        b,
        &[
            "--api-key",
            &reader,
            "settings",
            "set",
            "Jobs.ChunkSize=100",
        ],
    )
    .expect(3);
    assert!(forbidden.stderr.contains("forbidden"), "{forbidden}");
    cli(b, &["--api-key", &reader, "keys", "list"]).expect(3);

    // Revoked through the server: refused at once.
    let revoked = cli(
        b,
        &[
            "--api-key",
            &admin,
            "keys",
            "revoke",
            &reader_id,
            "-o",
            "json",
        ],
    )
    .expect(0)
    .json();
    assert!(revoked["revokedAt"].is_string());
    cli(b, &["--api-key", &reader, "cases", "get", "CASE-000001"]).expect(3);
    // The store shows the same, without a server.
    let direct = local(&["keys", "list", "--database-url", &db, "-o", "json"])
        .expect(0)
        .json();
    assert_eq!(direct["items"][1]["revokedAt"], revoked["revokedAt"]);
    local(&["keys", "revoke", "--database-url", &db, "ffffffffffff"]).expect(2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_a_public_address_without_keys_and_serves_it_with_one() {
    let (dir, db) = setup("");
    let port = free_port();
    let run = |extra: &[&str]| {
        docket()
            .args([
                "serve",
                "--bind",
                &format!("0.0.0.0:{port}"),
                "--database-url",
                &db,
                "--config",
            ])
            .arg(dir.path().join("docket.toml"))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let refused = run(&[]).wait_with_output().unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("refusing to serve 0.0.0.0"), "{stderr}");
    assert!(stderr.contains("docket keys create"), "{stderr}");

    local(&[
        "keys",
        "create",
        "--database-url",
        &db,
        "--scope",
        "jobs:read",
    ])
    .expect(0);
    let mut child = run(&[]);
    let http = reqwest::Client::new();
    let started = Instant::now();
    let status = loop {
        if let Ok(r) = http
            .get(format!("http://127.0.0.1:{port}/api/v1/jobs"))
            .send()
            .await
        {
            break r.status().as_u16();
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "server did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, 401);
}
