//! API keys and scopes: each scope allows exactly its routes, missing, wrong and revoked
//! keys are refused, keys work across nodes, and the open-mode bind rules.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use docket_api::NewApiKey;
use docket_server::Server;
use docket_server::config::Config;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, fresh_database_url, spawn_app, spawn_app_with};

/// What each route needs, written out from the contract (docs/api.md) rather than
/// read from the server's table: `None` is open to anyone, `Some("*")` any valid key.
pub const EXPECTED: &[(&str, &str, Option<&str>)] = &[
    ("GET", "/healthz", None),
    ("GET", "/readyz", None),
    ("GET", "/docs", None),
    ("GET", "/api/v1/openapi.json", None),
    ("GET", "/metrics", Some("*")),
    ("GET", "/api/v1/whoami", Some("*")),
    ("GET", "/api/v1/cases", Some("cases:read")),
    ("POST", "/api/v1/cases", Some("cases:write")),
    ("GET", "/api/v1/cases/{caseId}", Some("cases:read")),
    ("PATCH", "/api/v1/cases/{caseId}", Some("cases:write")),
    ("DELETE", "/api/v1/cases/{caseId}", Some("cases:write")),
    ("GET", "/api/v1/cases/{caseId}/history", Some("cases:read")),
    ("GET", "/api/v1/cases/{caseId}/comments", Some("cases:read")),
    (
        "POST",
        "/api/v1/cases/{caseId}/comments",
        Some("cases:write"),
    ),
    (
        "GET",
        "/api/v1/cases/{caseId}/comments/{commentId}",
        Some("cases:read"),
    ),
    (
        "PATCH",
        "/api/v1/cases/{caseId}/comments/{commentId}",
        Some("cases:write"),
    ),
    (
        "DELETE",
        "/api/v1/cases/{caseId}/comments/{commentId}",
        Some("cases:write"),
    ),
    ("GET", "/api/v1/cases/{caseId}/tasks", Some("cases:read")),
    ("POST", "/api/v1/cases/{caseId}/tasks", Some("cases:write")),
    (
        "PATCH",
        "/api/v1/cases/{caseId}/tasks/{taskId}",
        Some("cases:write"),
    ),
    ("PATCH", "/api/v1/cases/bulk-update", Some("cases:write")),
    ("POST", "/api/v1/cases/bulk-update", Some("cases:write")),
    ("POST", "/api/v1/cases/refresh-status", Some("cases:read")),
    ("GET", "/api/v1/workflow", Some("cases:read")),
    ("GET", "/api/v1/changes", Some("cases:read")),
    ("GET", "/api/v1/changes/stream", Some("cases:read")),
    ("GET", "/api/v1/jobs", Some("jobs:read")),
    ("GET", "/api/v1/jobs/{jobId}", Some("jobs:read")),
    ("GET", "/api/v1/jobs/{jobId}/status", Some("jobs:read")),
    ("GET", "/api/v1/jobs/{jobId}/results", Some("jobs:read")),
    ("GET", "/api/v1/jobs/{jobId}/events", Some("jobs:read")),
    ("GET", "/api/v1/jobs/{jobId}/callbacks", Some("jobs:read")),
    ("POST", "/api/v1/jobs/{jobId}/cancel", Some("cases:write")),
    (
        "POST",
        "/api/v1/jobs/{jobId}/retry-failed",
        Some("cases:write"),
    ),
    ("POST", "/api/v1/jobs/{jobId}/revert", Some("cases:write")),
    ("POST", "/api/v1/cases/bulk-delete", Some("cases:write")),
    ("POST", "/api/v1/cases/bulk-create", Some("cases:write")),
    ("DELETE", "/api/v1/jobs/{jobId}", Some("cases:write")),
    (
        "POST",
        "/api/v1/jobs/{jobId}/callbacks/redeliver",
        Some("cases:write"),
    ),
    ("GET", "/api/v1/settings", Some("admin")),
    ("PATCH", "/api/v1/settings", Some("admin")),
    ("GET", "/api/v1/keys", Some("admin")),
    ("POST", "/api/v1/keys", Some("admin")),
    ("GET", "/api/v1/webhooks", Some("admin")),
    ("POST", "/api/v1/webhooks", Some("admin")),
    ("GET", "/api/v1/webhooks/{webhookId}", Some("admin")),
    ("PATCH", "/api/v1/webhooks/{webhookId}", Some("admin")),
    ("DELETE", "/api/v1/webhooks/{webhookId}", Some("admin")),
    (
        "POST",
        "/api/v1/webhooks/{webhookId}/rotate-secret",
        Some("admin"),
    ),
    ("POST", "/api/v1/webhooks/{webhookId}/test", Some("admin")),
    (
        "GET",
        "/api/v1/webhooks/{webhookId}/deliveries",
        Some("admin"),
    ),
    (
        "POST",
        "/api/v1/webhooks/{webhookId}/deliveries/{deliveryId}/redeliver",
        Some("admin"),
    ),
    ("DELETE", "/api/v1/keys/{keyId}", Some("admin")),
];

/// Makes a key straight in the store (as `docket keys create --database-url` does).
pub async fn make_key(app: &TestApp, name: &str, scopes: &[&str]) -> (String, String) {
    let new = NewApiKey {
        name: Some(name.into()),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
    };
    let (issued, _) = docket_server::engine::keys::create_key(
        app.state.engine.store.as_ref(),
        new.name,
        &new.scopes,
        app.state.engine.now(),
    )
    .await
    .ok()
    .unwrap();
    app.state.keys.forget();
    (issued.key.id, issued.token)
}

/// A request with an optional bearer token; status, headers and JSON body.
pub async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut rb = app
        .http
        .request(method.parse().unwrap(), format!("{}{path}", app.base))
        .timeout(Duration::from_secs(30));
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    if let Some(b) = body {
        rb = rb
            .header("content-type", "application/json")
            .body(b.to_owned());
    }
    let res = rb.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap_or_default();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

/// A concrete path for a route template; ids name nothing, so no request changes data.
fn concrete(path: &str) -> String {
    path.replace("{caseId}", "CASE-999999")
        .replace("{taskId}", "TASK-999999")
        .replace("{jobId}", "job-none")
        .replace("{keyId}", "000000000000")
}

#[test]
fn the_expected_table_names_every_route_of_the_server() {
    let expected: BTreeSet<(&str, &str)> = EXPECTED.iter().map(|(m, p, _)| (*m, *p)).collect();
    let server: BTreeSet<(&str, &str)> = docket_server::http::auth::ROUTES
        .iter()
        .map(|(m, p, _)| (*m, *p))
        .collect();
    assert_eq!(expected, server);
}

backend_test! {
    async fn each_scope_allows_exactly_its_routes() {
        let app = spawn_app().await;
        let mut callers: Vec<(Vec<&str>, Option<String>)> = vec![(vec![], None)];
        for scopes in [
            vec!["cases:read"],
            vec!["cases:write"],
            vec!["jobs:read"],
            vec!["admin"],
            vec!["cases:read", "jobs:read"],
        ] {
            let (_, token) = make_key(&app, "t", &scopes).await;
            callers.push((scopes, Some(token)));
        }
        for (method, path, need) in EXPECTED {
            let body = matches!(*method, "POST" | "PATCH").then_some("{}");
            for (scopes, token) in &callers {
                let (s, h, b) = call(&app, method, &concrete(path), token.as_deref(), body).await;
                let allowed = match (need, token) {
                    (None, _) => true,
                    (Some(_), None) => false,
                    (Some("*"), Some(_)) => true,
                    (Some(scope), Some(_)) => scopes.contains(scope) || scopes.contains(&"admin"),
                };
                let who = format!("{method} {path} with {scopes:?}");
                if allowed {
                    assert!(s != 401 && s != 403, "{who}: refused {s} {b}");
                    // The route is served (the document and the table are not ahead of
                    // the router).
                    assert!(
                        b["code"] != "not_found" && b["code"] != "method_not_allowed",
                        "{who}: not routed: {b}"
                    );
                } else if token.is_none() {
                    assert_problem(s, &h, &b, 401, "unauthorized");
                    assert!(h.contains_key("www-authenticate"), "{who}");
                } else {
                    assert_problem(s, &h, &b, 403, "forbidden");
                }
            }
        }
    }
}

backend_test! {
    async fn missing_wrong_and_revoked_keys_are_refused_and_the_server_is_open_until_a_key_exists() {
        let app = spawn_app().await;
        app.create(json!({"title": "t"})).await;
        // No key yet: open.
        let (s, _, _) = call(&app, "GET", "/api/v1/cases", None, None).await;
        assert_eq!(s, 200);
        // Not through the API while the server is open (anyone who reaches it could
        // mint an admin key): the first key is made in the store.
        let (s, h, b) = call(
            &app,
            "POST",
            "/api/v1/keys",
            None,
            Some(r#"{"name":"ops","scopes":["admin"]}"#),
        )
        .await;
        assert_problem(s, &h, &b, 403, "forbidden");
        assert_eq!(call(&app, "GET", "/api/v1/cases", None, None).await.0, 200, "still open");
        let (_, first) = make_key(&app, "first", &["admin"]).await;
        let (s, h, created) = call(
            &app,
            "POST",
            "/api/v1/keys",
            Some(&first),
            Some(r#"{"name":"ops","scopes":["admin"]}"#),
        )
        .await;
        assert_eq!(s, 201, "{created}");
        assert!(h.get("location").unwrap().to_str().unwrap().ends_with(created["keyId"].as_str().unwrap()));
        let admin = created["token"].as_str().unwrap().to_owned();
        assert!(admin.starts_with("dkt_"));
        assert_eq!(created["scopes"], json!(["admin"]));
        // From now on a key is needed.
        for bad in [
            None,
            Some("nonsense"),
            Some("dkt_000000000000_0000000000000000000000000000000000000000000000000000000000000000"),
        ] {
            let (s, h, b) = call(&app, "GET", "/api/v1/cases", bad, None).await;
            assert_problem(s, &h, &b, 401, "unauthorized");
        }
        // The right key id with a wrong secret.
        let mut forged = admin.clone();
        let last = forged.pop().unwrap();
        forged.push(if last == '0' { '1' } else { '0' });
        let (s, h, b) = call(&app, "GET", "/api/v1/cases", Some(&forged), None).await;
        assert_problem(s, &h, &b, 401, "unauthorized");
        // Not a bearer token at all.
        let res = app
            .http
            .get(format!("{}/api/v1/cases", app.base))
            .header("authorization", format!("Basic {admin}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 401);
        let (s, _, _) = call(&app, "GET", "/api/v1/cases", Some(&admin), None).await;
        assert_eq!(s, 200);
        // Health stays open.
        assert_eq!(call(&app, "GET", "/healthz", None, None).await.0, 200);
        assert_eq!(call(&app, "GET", "/readyz", None, None).await.0, 200);

        // A writer key: its changes carry its name in the history.
        let (s, _, w) = call(
            &app,
            "POST",
            "/api/v1/keys",
            Some(&admin),
            Some(r#"{"name":"ci-bot","scopes":["cases:write","cases:read"]}"#),
        )
        .await;
        assert_eq!(s, 201);
        let writer = w["token"].as_str().unwrap().to_owned();
        let (s, _, _) = call(
            &app,
            "PATCH",
            "/api/v1/cases/CASE-000001",
            Some(&writer),
            Some(r#"{"status":"Open"}"#),
        )
        .await;
        assert_eq!(s, 200);
        let (_, _, hist) = call(&app, "GET", "/api/v1/cases/CASE-000001/history", Some(&writer), None).await;
        assert_eq!(hist["items"][0]["actor"], "ci-bot", "{hist}");

        // Listing shows keys, never tokens or hashes.
        let (s, _, list) = call(&app, "GET", "/api/v1/keys", Some(&admin), None).await;
        assert_eq!(s, 200);
        assert_eq!(list["items"].as_array().unwrap().len(), 3, "first, ops, ci-bot");
        assert!(!list.to_string().contains(&writer[20..]));
        assert!(list["items"][0].get("token").is_none());

        // Revoked: refused at once on this node.
        let path = format!("/api/v1/keys/{}", w["keyId"].as_str().unwrap());
        let (s, _, revoked) = call(&app, "DELETE", &path, Some(&admin), None).await;
        assert_eq!(s, 200, "{revoked}");
        assert!(revoked["revokedAt"].is_string());
        let (s, h, b) = call(&app, "GET", "/api/v1/cases", Some(&writer), None).await;
        assert_problem(s, &h, &b, 401, "unauthorized");
        // Revoking again keeps the first time; an unknown key is 404.
        let (s, _, again) = call(&app, "DELETE", &path, Some(&admin), None).await;
        assert_eq!((s, &again["revokedAt"]), (200, &revoked["revokedAt"]));
        let (s, h, b) = call(&app, "DELETE", "/api/v1/keys/abcdefabcdef", Some(&admin), None).await;
        assert_problem(s, &h, &b, 404, "key_not_found");
        // A bad request for a key names its fields and creates nothing.
        let (s, h, b) = call(
            &app,
            "POST",
            "/api/v1/keys",
            Some(&admin),
            Some(r#"{"scopes":["root"]}"#),
        )
        .await;
        assert_problem(s, &h, &b, 422, "validation_failed");
        assert_eq!(b["errors"][0]["field"], "scopes[0]");
        let (_, _, list) = call(&app, "GET", "/api/v1/keys", Some(&admin), None).await;
        assert_eq!(list["items"].as_array().unwrap().len(), 3);
    }
}

backend_test! {
    async fn a_key_made_on_one_node_works_on_another_and_its_revocation_reaches_it() {
        let a = spawn_app_with(|c| {
            c.auth.key_cache_ms = 200;
            c.auth.allow_open_key_creation = true;
        })
        .await;
        let url = a.state.config.database.url.clone();
        let b = spawn_app_with(move |c| {
            c.auth.key_cache_ms = 200;
            c.database.url = url;
        })
        .await;
        // Node b has read (no) keys before the key exists.
        assert_eq!(call(&b, "GET", "/api/v1/jobs", None, None).await.0, 200);
        let (s, _, created) = call(
            &a,
            "POST",
            "/api/v1/keys",
            None,
            Some(r#"{"scopes":["jobs:read","admin"]}"#),
        )
        .await;
        assert_eq!(s, 201);
        let token = created["token"].as_str().unwrap().to_owned();
        let until = |what: &'static str, node: &'static str| {
            move |start: Instant| {
                assert!(
                    start.elapsed() < Duration::from_secs(3),
                    "node {node} did not see the key {what} in time"
                )
            }
        };
        let start = Instant::now();
        while call(&b, "GET", "/api/v1/jobs", None, None).await.0 != 401 {
            until("created", "b")(start);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(call(&b, "GET", "/api/v1/jobs", Some(&token), None).await.0, 200);
        let path = format!("/api/v1/keys/{}", created["keyId"].as_str().unwrap());
        assert_eq!(call(&a, "DELETE", &path, Some(&token), None).await.0, 200);
        let start = Instant::now();
        while call(&b, "GET", "/api/v1/jobs", Some(&token), None).await.0 != 401 {
            until("revoked", "b")(start);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(call(&a, "GET", "/api/v1/jobs", Some(&token), None).await.0, 401);
    }
}

async fn build_on(
    bind: &str,
    url: &str,
    tweak: impl FnOnce(&mut Config),
) -> anyhow::Result<Server> {
    let mut config = Config::default();
    config.server.bind = bind.into();
    config.database.url = url.into();
    tweak(&mut config);
    Server::build(config).await
}

backend_test! {
    async fn without_keys_the_server_refuses_a_public_bind_and_serves_loopback_open() {
        let dir = tempfile::tempdir().unwrap();
        let url = fresh_database_url(dir.path());
        let err = build_on("0.0.0.0:0", &url, |_| {}).await.err().unwrap().to_string();
        assert!(err.contains("refusing to serve 0.0.0.0:0 without API keys"), "{err}");
        assert!(err.contains("docket keys create"), "{err}");
        // Explicitly allowed (behind an authenticating proxy): it starts.
        build_on("0.0.0.0:0", &url, |c| c.auth.allow_unauthenticated_public_bind = true)
            .await
            .unwrap();
        // Loopback, IPv4 and IPv6: it starts, open.
        build_on("127.0.0.1:0", &url, |_| {}).await.unwrap();
        if std::net::TcpListener::bind("[::1]:0").is_ok() {
            build_on("[::1]:0", &url, |_| {}).await.unwrap();
        }
        // Once a key exists, a public bind is fine: keys are required.
        let app = spawn_app_with({
            let url = url.clone();
            move |c| c.database.url = url
        })
        .await;
        make_key(&app, "ops", &["admin"]).await;
        let public = build_on("0.0.0.0:0", &url, |_| {}).await.unwrap();
        let port = public.local_addr().unwrap().port();
        tokio::spawn(public.run(std::future::pending()));
        let res = reqwest::get(format!("http://127.0.0.1:{port}/api/v1/cases")).await.unwrap();
        assert_eq!(res.status().as_u16(), 401);
    }
}

backend_test! {
    async fn an_open_server_answers_only_loopback_hosts_and_mints_no_key_unless_allowed() {
        let app = spawn_app().await;
        // A web page that rebinds its own name to 127.0.0.1 sends its name as Host.
        for host in ["rebind.invalid", "rebind.invalid:8080", "docket.invalid", "localhost.invalid"] {
            let res = app
                .http
                .get(format!("{}/api/v1/cases", app.base))
                .header("host", host)
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap();
            assert_eq!(status, 421, "Host {host}: {body}");
            assert_eq!(body["code"], "misdirected_request", "{body}");
        }
        for host in ["localhost", "localhost:8080", "127.0.0.1:1", "[::1]:8080", "LocalHost"] {
            let res = app
                .http
                .get(format!("{}/api/v1/cases", app.base))
                .header("host", host)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status().as_u16(), 200, "Host {host}");
        }
        // Health checks answer whatever the Host (load balancers use their own names).
        let res = app
            .http
            .get(format!("{}/readyz", app.base))
            .header("host", "rebind.invalid")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200);

        // With the operator's opt-in, the first key can be made over HTTP.
        let app = spawn_app_with(|c| c.auth.allow_open_key_creation = true).await;
        let (s, _, created) = call(
            &app,
            "POST",
            "/api/v1/keys",
            None,
            Some(r#"{"name":"ops","scopes":["admin"]}"#),
        )
        .await;
        assert_eq!(s, 201, "{created}");
        let (s, h, b) = call(&app, "GET", "/api/v1/cases", None, None).await;
        assert_problem(s, &h, &b, 401, "unauthorized");
    }
}
