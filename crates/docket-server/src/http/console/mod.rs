//! `/console`: the web console, a client of the public API served from this binary.
//!
//! The console is one HTML shell and a few static scripts and a stylesheet, all compiled
//! in (no CDN, nothing fetched at run time). Every page is the same shell; its script
//! reads the path and fetches what the page shows from `/api/v1/...` as the signed-in
//! caller. The only things here that are not static files are the sign-in and sign-out
//! forms, because an HttpOnly cookie can only be set by the server:
//!
//! - `POST /console/sign-in` (`key=<token>`) checks the key, starts a session for it and
//!   sets two cookies, both with `Max-Age` = `console.session_hours`. The session cookie
//!   ([`super::session::SESSION_COOKIE`], HttpOnly, SameSite=Strict) holds a fresh random
//!   session token, never the key; the store keeps only the token's hash, the key's id
//!   and the expiry, so every node of a cluster accepts the session and sees at once when
//!   it ends. The CSRF cookie ([`super::session::CSRF_COOKIE`]) holds a token derived from
//!   the session's; the console's scripts read it and send it back in `X-CSRF-Token` on
//!   every write, and [`super::auth::authorize`] refuses a cookie-signed write without it.
//!   Over TLS both are named with the `__Host-` prefix and `Secure`, and only the
//!   `__Host-` session cookie is accepted ([`super::session::session_cookie`]).
//! - `POST /console/sign-out` ends the session in the store (a copy of the cookie is
//!   refused from then on) and clears the cookies.
//!
//! A session authenticates as its key: it ends with the key's revocation (the store
//! deletes the key's sessions in the same commit), at its expiry (then the API answers
//! 401 and the console goes to the sign-in form), and at sign-out. The retention sweep
//! deletes expired sessions.
//!
//! Both forms refuse a cross-site `Origin` (login CSRF). Pages are sent with a strict
//! Content-Security-Policy: scripts, styles and connections from this origin only.

use axum::Form;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::AppState;
use super::auth::key_of;
use super::session::{
    CSRF_COOKIE, HOST_PREFIX, SESSION_COOKIE, csrf_token, over_tls, session_cookie,
};
use crate::domain::{issue_session, token_hash};

/// A file of the console, compiled in.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const SHELL: &str = include_str!("assets/index.html");

const ASSETS: &[Asset] = &[
    Asset {
        name: "console.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("assets/console.css"),
    },
    js("app.js", include_str!("assets/app.js")),
    js("dom.js", include_str!("assets/dom.js")),
    js("api.js", include_str!("assets/api.js")),
    js("cases.js", include_str!("assets/cases.js")),
    js("bulk.js", include_str!("assets/bulk.js")),
    js("case.js", include_str!("assets/case.js")),
    js("comments.js", include_str!("assets/comments.js")),
    js("jobs.js", include_str!("assets/jobs.js")),
    js("changes.js", include_str!("assets/changes.js")),
    js("webhooks.js", include_str!("assets/webhooks.js")),
    js("settings.js", include_str!("assets/settings.js")),
    js("import.js", include_str!("assets/import.js")),
];

const fn js(name: &'static str, body: &'static str) -> Asset {
    Asset {
        name,
        content_type: "text/javascript; charset=utf-8",
        body,
    }
}

/// The console's routes (all open: see [`super::auth::CONSOLE_ROUTES`]).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(shell))
        .route("/console/sign-in", get(shell).post(sign_in))
        .route("/console/sign-out", axum::routing::post(sign_out))
        .route("/console/assets/{file}", get(asset))
        .route("/console/{*page}", get(shell))
}

/// Headers every console response carries: nothing from elsewhere may run or load. The
/// referrer policy is `same-origin`, not `no-referrer`: under `no-referrer` browsers send
/// `Origin: null` with form posts, which [`same_origin`] would refuse.
fn guarded(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}

async fn shell() -> Response {
    guarded(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], SHELL).into_response())
}

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.name == file) {
        Some(a) => guarded(([(header::CONTENT_TYPE, a.content_type)], a.body).into_response()),
        None => guarded((StatusCode::NOT_FOUND, "no such file").into_response()),
    }
}

#[derive(Deserialize)]
struct SignIn {
    key: String,
    #[serde(default)]
    next: Option<String>,
}

/// Where to go after signing in: a console page, never another site.
fn next_page(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with("/console") && !n.starts_with("/console/sign-") => n,
        _ => "/console",
    }
}

/// Whether a form post comes from a page of this origin. Browsers say so themselves in
/// `Sec-Fetch-Site`, which no page can set; older ones send `Origin`, compared with the
/// host the browser used (`X-Forwarded-Host` when a proxy rewrote `Host`). A request with
/// neither is not a browser carrying someone else's cookies.
fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if let Some(site) = text("sec-fetch-site") {
        return site == "same-origin";
    }
    let Some(origin) = text(header::ORIGIN.as_str()) else {
        return true;
    };
    let Some((_, origin_host)) = origin.split_once("://") else {
        return false;
    };
    [text("x-forwarded-host"), text(header::HOST.as_str())]
        .into_iter()
        .flatten()
        .any(|host| origin_host.eq_ignore_ascii_case(host))
}

fn redirect(to: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

fn forbidden_origin() -> Response {
    guarded(
        (
            StatusCode::FORBIDDEN,
            "this form must be sent from the console's own pages",
        )
            .into_response(),
    )
}

fn set_cookie(res: &mut Response, cookie: String) {
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}

async fn sign_in(State(s): State<AppState>, headers: HeaderMap, Form(f): Form<SignIn>) -> Response {
    if !same_origin(&headers) {
        return forbidden_origin();
    }
    let next = next_page(f.next.as_deref()).to_owned();
    let keys = match s.keys.keys().await {
        Ok(k) => k,
        Err(e) => return super::ApiError::from(e).into_response(),
    };
    if keys.is_empty() && s.keys.open_allowed {
        // Open mode: there is nothing to sign in with, and nothing needs it.
        return redirect(&next);
    }
    let key = match key_of(&keys, f.key.trim()) {
        Ok(k) => k,
        Err(why) => {
            tracing::info!(why, "console sign-in refused");
            let back = format!(
                "/console/sign-in?error=invalid&next={}",
                percent_encode(&next)
            );
            return redirect(&back);
        }
    };
    let lifetime = s.config.console.session_ms();
    let issued = match issue_session(&key.id, s.engine.now(), lifetime) {
        Ok(i) => i,
        Err(e) => {
            return super::ApiError::from(crate::error::Error::Other(anyhow::anyhow!(e)))
                .into_response();
        }
    };
    if let Err(e) = s.engine.create_session(issued.session).await {
        return super::ApiError::from(e).into_response();
    }
    tracing::info!(key.id = %key.id, "console session started");
    let (prefix, secure) = if over_tls(&headers) {
        (HOST_PREFIX, "; Secure")
    } else {
        ("", "")
    };
    let max_age = lifetime / 1000;
    let token = issued.token;
    let mut res = redirect(&next);
    set_cookie(
        &mut res,
        format!(
            "{prefix}{SESSION_COOKIE}={token}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
        ),
    );
    set_cookie(
        &mut res,
        format!(
            "{prefix}{CSRF_COOKIE}={}; Path=/; Max-Age={max_age}; SameSite=Strict{secure}",
            csrf_token(&token)
        ),
    );
    res
}

/// Ends the session the request's cookie names, in the store (so the cookie is refused
/// from then on, on every node, even if a copy of it survives), and clears the cookies.
async fn sign_out(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if !same_origin(&headers) {
        return forbidden_origin();
    }
    let tls = over_tls(&headers);
    if let Some(token) = session_cookie(&headers, tls) {
        if let Err(e) = s.engine.end_session(token_hash(token)).await {
            // The cookies stay, so signing out again can still end the session.
            return super::ApiError::from(e).into_response();
        }
    }
    let mut res = redirect("/console/sign-in?signedOut=1");
    for name in [SESSION_COOKIE, CSRF_COOKIE] {
        set_cookie(
            &mut res,
            format!("{name}=; Path=/; Max-Age=0; SameSite=Strict"),
        );
        if tls {
            set_cookie(
                &mut res,
                format!("{HOST_PREFIX}{name}=; Path=/; Max-Age=0; SameSite=Strict; Secure"),
            );
        }
    }
    res
}

/// Percent-encodes everything but unreserved characters and `/`.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_sign_in_only_console_pages_are_followed() {
        assert_eq!(next_page(Some("/console/jobs")), "/console/jobs");
        assert_eq!(next_page(Some("https://evil.example/")), "/console");
        assert_eq!(next_page(Some("//evil.example")), "/console");
        assert_eq!(next_page(Some("/console/sign-in")), "/console");
        assert_eq!(next_page(None), "/console");
    }

    #[test]
    fn a_cross_site_origin_is_refused() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8080"),
        );
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(!same_origin(&h));
    }
}
