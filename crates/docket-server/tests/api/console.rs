//! The console's server side over plain HTTP: pages and assets served with a strict
//! policy, sign-in setting an HttpOnly SameSite=Strict session, the CSRF check on writes
//! made with that session, and `whoami`. The browser tests are in `browser.rs`.

use reqwest::header::{HeaderMap, SET_COOKIE};
use serde_json::{Value, json};

use crate::auth::{call, make_key};
use crate::helpers::*;

pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub fn cookies(h: &HeaderMap) -> Vec<String> {
    h.get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

pub async fn sign_in(app: &TestApp, key: &str, origin: Option<&str>) -> reqwest::Response {
    let mut rb = no_redirects()
        .post(format!("{}/console/sign-in", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("key={key}&next=%2Fconsole%2Fjobs"));
    if let Some(o) = origin {
        rb = rb.header("origin", o);
    }
    rb.send().await.unwrap()
}

/// The value of the cookie `name` among a response's `Set-Cookie` headers.
pub fn cookie_value(set: &[String], name: &str) -> Option<String> {
    set.iter().find_map(|c| {
        c.strip_prefix(&format!("{name}="))
            .map(|v| v.split(';').next().unwrap().to_owned())
    })
}

/// Signs in with `key` over plain HTTP: the session cookie's value and the CSRF token.
pub async fn session_of(app: &TestApp, key: &str) -> (String, String) {
    let res = sign_in(app, key, None).await;
    assert_eq!(res.status(), 303);
    let set = cookies(res.headers());
    (
        cookie_value(&set, "docket_session").unwrap(),
        cookie_value(&set, "docket_csrf").unwrap(),
    )
}

#[tokio::test]
async fn console_pages_and_assets_are_served_with_a_strict_content_security_policy() {
    let app = spawn_app().await;
    // With a key in the store: the pages hold no data, so they need none.
    make_key(&app, "lead", &["admin"]).await;
    for path in [
        "/console",
        "/console/cases",
        "/console/cases/CASE-1",
        "/console/changes",
        "/console/sign-in",
    ] {
        let res = app
            .http
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let csp = res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        let body = res.text().await.unwrap();
        assert!(body.contains("/console/assets/app.js"), "{path}: {body}");
        assert!(
            !body.contains("http://") && !body.contains("https://"),
            "no asset from elsewhere"
        );
    }
    for (file, kind) in [
        ("app.js", "text/javascript"),
        ("changes.js", "text/javascript"),
        ("console.css", "text/css"),
    ] {
        let res = app
            .http
            .get(format!("{}/console/assets/{file}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind)
        );
    }
    let res = app
        .http
        .get(format!("{}/console/assets/nope.js", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn signing_in_sets_an_http_only_same_site_strict_session_and_a_csrf_cookie() {
    let app = spawn_app().await;
    let (_, token) = make_key(&app, "lead", &["cases:read"]).await;
    let res = sign_in(&app, &token, Some(&app.base)).await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/console/jobs");
    let set = cookies(res.headers());
    let session = set
        .iter()
        .find(|c| c.starts_with("docket_session="))
        .unwrap();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Strict"),
        "{session}"
    );
    let csrf = set.iter().find(|c| c.starts_with("docket_csrf=")).unwrap();
    assert!(
        !csrf.contains("HttpOnly") && csrf.contains("SameSite=Strict"),
        "{csrf}"
    );

    // The cookie holds a session of its own, not the key, and lasts as configured.
    let value = cookie_value(&set, "docket_session").unwrap();
    assert_ne!(value, token);
    assert!(
        !value.contains(&token[4..16]),
        "{value} names no part of the key"
    );
    assert!(session.contains("; Max-Age=43200;"), "{session}");
    assert!(csrf.contains("; Max-Age=43200;"), "{csrf}");

    // The cookie alone authenticates reads.
    let res = app
        .http
        .get(format!("{}/api/v1/whoami", app.base))
        .header("cookie", format!("docket_session={value}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["open"], json!(false));
    assert_eq!(me["name"], json!("lead"));
    assert_eq!(me["scopes"], json!(["cases:read"]));
}

#[tokio::test]
async fn a_wrong_key_sends_the_sign_in_page_back_with_an_error_and_sets_no_cookie() {
    let app = spawn_app().await;
    make_key(&app, "lead", &["admin"]).await;
    let res = sign_in(&app, "dkt_000000000000_nope", None).await;
    assert_eq!(res.status(), 303);
    let to = res.headers()["location"].to_str().unwrap();
    assert!(to.starts_with("/console/sign-in?error=invalid"), "{to}");
    assert!(cookies(res.headers()).is_empty());
}

#[tokio::test]
async fn a_sign_in_form_posted_from_another_site_is_refused() {
    let app = spawn_app().await;
    let (_, token) = make_key(&app, "lead", &["admin"]).await;
    let res = sign_in(&app, &token, Some("http://evil.example")).await;
    assert_eq!(res.status(), 403);
    assert!(cookies(res.headers()).is_empty());
    let res = no_redirects()
        .post(format!("{}/console/sign-out", app.base))
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn a_write_with_the_session_cookie_needs_the_csrf_header_and_changes_nothing_without_it() {
    let app = spawn_app().await;
    let case = app.create(json!({"title": "t"})).await;
    let (_, token) = make_key(&app, "lead", &["admin"]).await;
    let (session, csrf) = session_of(&app, &token).await;
    let patch = |csrf: Option<String>| {
        let mut rb = app
            .http
            .patch(format!("{}/api/v1/cases/{}", app.base, case.case_id))
            .header("cookie", format!("docket_session={session}; docket_csrf=x"))
            .header("content-type", "application/json")
            .body(r#"{"priority":"Critical"}"#);
        if let Some(c) = csrf {
            rb = rb.header("x-csrf-token", c);
        }
        rb.send()
    };
    for forged in [None, Some("0".repeat(32)), Some("x".into())] {
        let res = patch(forged).await.unwrap();
        assert_eq!(res.status(), 403);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["code"], json!("forbidden"));
    }
    let (_, _, now) = call(
        &app,
        "GET",
        &format!("/api/v1/cases/{}", case.case_id),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(now["version"], json!(1), "a refused write changed nothing");
    let res = patch(Some(csrf)).await.unwrap();
    assert_eq!(res.status(), 200);
    // A bearer key needs no CSRF token: no browser sends it by itself.
    let (s, _, _) = call(
        &app,
        "PATCH",
        &format!("/api/v1/cases/{}", case.case_id),
        Some(&token),
        Some(r#"{"priority":"Low"}"#),
    )
    .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn whoami_in_open_mode_grants_every_scope() {
    let app = spawn_app().await;
    let (s, _, me) = app.raw("GET", "/api/v1/whoami", None).await;
    assert_eq!(s, 200);
    assert_eq!(me["open"], json!(true));
    assert_eq!(
        me["scopes"],
        json!(["cases:read", "cases:write", "jobs:read", "admin"])
    );
    assert_eq!(
        me["limits"],
        json!({"maxItemsPerRequest": 10000, "maxPageSize": 1000})
    );
    // Nothing to sign in with: the form goes straight on.
    let res = sign_in(&app, "anything", None).await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/console/jobs");
}

#[tokio::test]
async fn over_tls_the_cookies_are_secure_host_only_and_the_plain_named_one_is_refused() {
    let app = spawn_app().await;
    let (_, token) = make_key(&app, "lead", &["cases:read"]).await;
    let res = no_redirects()
        .post(format!("{}/console/sign-in", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-forwarded-proto", "https")
        .body(format!("key={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let set = cookies(res.headers());
    let session = set
        .iter()
        .find(|c| c.starts_with("__Host-docket_session="))
        .unwrap();
    assert!(
        session.contains("; Secure") && session.contains("HttpOnly"),
        "{session}"
    );
    assert!(
        set.iter()
            .any(|c| c.starts_with("__Host-docket_csrf=") && c.contains("; Secure"))
    );
    let value = cookie_value(&set, "__Host-docket_session").unwrap();
    let whoami = |cookie: String| {
        app.http
            .get(format!("{}/api/v1/whoami", app.base))
            .header("x-forwarded-proto", "https")
            .header("cookie", cookie)
            .send()
    };
    let res = whoami(format!("__Host-docket_session={value}"))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // Over TLS the plain name is refused, even holding a live session: a sibling
    // subdomain or a plain-HTTP response could have planted it.
    let res = whoami(format!("docket_session={value}")).await.unwrap();
    assert_eq!(res.status(), 401);
}
