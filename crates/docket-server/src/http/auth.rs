//! Who may call what: API keys and the one table of the scope every route needs.
//!
//! [`ROUTES`] names, for every route of the router, what it needs: nothing (health,
//! the API description), any valid key (`/metrics`), or a scope. A route missing from
//! the table needs `admin` (closed by default); a test checks the table and the router
//! hold the same routes. `admin` grants every scope.
//!
//! With no key in the store the server is open (every caller is `api`), which
//! [`crate::Server::build`] allows only on a loopback address unless told otherwise.
//! Once a key exists, every request to a route that needs one must carry a valid
//! `Authorization: Bearer <token>`: 401 `unauthorized` without one (or with a wrong or
//! revoked one), 403 `forbidden` when the key lacks the scope.
//!
//! Keys are read from the store and kept for `auth.key_cache_ms`, so a key created or
//! revoked on another node of a cluster takes effect here within that time (on this node
//! at once).
//!
//! The console authenticates with a session cookie instead of the header: a session
//! token issued at sign-in (`console/mod.rs`), looked up in the store on every request
//! ([`super::session`]), so a session ended on any node (sign-out, its key revoked,
//! expiry) is refused on all of them at once. It acts as its key, and its writes must
//! carry its CSRF token.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use docket_api::codes;

use super::AppState;
pub use super::caller::Caller;
use super::caller::unauthorized;
use super::error::ApiError;
use super::session::{csrf_ok, over_tls, session_cookie, session_key};
use crate::domain::{ApiKey, Scope, token_key_id};

/// What a route asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: probes and the API description.
    Open,
    /// Any valid key, whatever its scopes.
    AnyKey,
    /// A key with this scope (or `admin`).
    Scope(Scope),
}

use Access::{AnyKey, Open};
const CASES_READ: Access = Access::Scope(Scope::CasesRead);
const CASES_WRITE: Access = Access::Scope(Scope::CasesWrite);
const JOBS_READ: Access = Access::Scope(Scope::JobsRead);
const ADMIN: Access = Access::Scope(Scope::Admin);

/// Every route: method, path template (as the router spells it) and what it needs.
pub const ROUTES: &[(&str, &str, Access)] = &[
    ("GET", "/healthz", Open),
    ("GET", "/readyz", Open),
    ("GET", "/docs", Open),
    ("GET", "/api/v1/openapi.json", Open),
    ("GET", "/metrics", AnyKey),
    ("GET", "/api/v1/cases", CASES_READ),
    ("POST", "/api/v1/cases", CASES_WRITE),
    ("GET", "/api/v1/cases/{caseId}", CASES_READ),
    ("PATCH", "/api/v1/cases/{caseId}", CASES_WRITE),
    ("DELETE", "/api/v1/cases/{caseId}", CASES_WRITE),
    ("GET", "/api/v1/cases/{caseId}/history", CASES_READ),
    ("GET", "/api/v1/cases/{caseId}/comments", CASES_READ),
    ("POST", "/api/v1/cases/{caseId}/comments", CASES_WRITE),
    (
        "GET",
        "/api/v1/cases/{caseId}/comments/{commentId}",
        CASES_READ,
    ),
    (
        "PATCH",
        "/api/v1/cases/{caseId}/comments/{commentId}",
        CASES_WRITE,
    ),
    (
        "DELETE",
        "/api/v1/cases/{caseId}/comments/{commentId}",
        CASES_WRITE,
    ),
    ("GET", "/api/v1/cases/{caseId}/tasks", CASES_READ),
    ("POST", "/api/v1/cases/{caseId}/tasks", CASES_WRITE),
    (
        "PATCH",
        "/api/v1/cases/{caseId}/tasks/{taskId}",
        CASES_WRITE,
    ),
    ("PATCH", "/api/v1/cases/bulk-update", CASES_WRITE),
    ("POST", "/api/v1/cases/bulk-update", CASES_WRITE),
    ("POST", "/api/v1/cases/bulk-delete", CASES_WRITE),
    ("POST", "/api/v1/cases/bulk-create", CASES_WRITE),
    // Reads the authoritative statuses; dropping cache entries changes no data.
    ("POST", "/api/v1/cases/refresh-status", CASES_READ),
    ("GET", "/api/v1/workflow", CASES_READ),
    ("GET", "/api/v1/changes", CASES_READ),
    ("GET", "/api/v1/changes/stream", CASES_READ),
    ("GET", "/api/v1/jobs", JOBS_READ),
    ("GET", "/api/v1/jobs/{jobId}", JOBS_READ),
    ("GET", "/api/v1/jobs/{jobId}/status", JOBS_READ),
    ("GET", "/api/v1/jobs/{jobId}/results", JOBS_READ),
    ("GET", "/api/v1/jobs/{jobId}/events", JOBS_READ),
    ("GET", "/api/v1/jobs/{jobId}/callbacks", JOBS_READ),
    // Stopping, re-running, forgetting a job or re-sending its callback act on the
    // cases' changes: the scope that submits jobs.
    ("POST", "/api/v1/jobs/{jobId}/cancel", CASES_WRITE),
    ("POST", "/api/v1/jobs/{jobId}/retry-failed", CASES_WRITE),
    ("POST", "/api/v1/jobs/{jobId}/revert", CASES_WRITE),
    ("DELETE", "/api/v1/jobs/{jobId}", CASES_WRITE),
    (
        "POST",
        "/api/v1/jobs/{jobId}/callbacks/redeliver",
        CASES_WRITE,
    ),
    ("GET", "/api/v1/settings", ADMIN),
    ("PATCH", "/api/v1/settings", ADMIN),
    ("GET", "/api/v1/keys", ADMIN),
    ("POST", "/api/v1/keys", ADMIN),
    ("DELETE", "/api/v1/keys/{keyId}", ADMIN),
    ("GET", "/api/v1/webhooks", ADMIN),
    ("POST", "/api/v1/webhooks", ADMIN),
    ("GET", "/api/v1/webhooks/{webhookId}", ADMIN),
    ("PATCH", "/api/v1/webhooks/{webhookId}", ADMIN),
    ("DELETE", "/api/v1/webhooks/{webhookId}", ADMIN),
    ("POST", "/api/v1/webhooks/{webhookId}/rotate-secret", ADMIN),
    ("POST", "/api/v1/webhooks/{webhookId}/test", ADMIN),
    ("GET", "/api/v1/webhooks/{webhookId}/deliveries", ADMIN),
    (
        "POST",
        "/api/v1/webhooks/{webhookId}/deliveries/{deliveryId}/redeliver",
        ADMIN,
    ),
    ("GET", "/api/v1/whoami", AnyKey),
];

/// The console's pages and its sign-in form: open, because the pages hold no data (they
/// fetch it from the API as the signed-in caller) and signing in is how a caller gets a
/// session. Not part of the API, so not in [`ROUTES`] or the OpenAPI document.
pub const CONSOLE_ROUTES: &[(&str, &str, Access)] = &[
    ("GET", "/console", Open),
    ("GET", "/console/{*page}", Open),
    ("GET", "/console/assets/{file}", Open),
    ("GET", "/console/sign-in", Open),
    ("POST", "/console/sign-in", Open),
    ("POST", "/console/sign-out", Open),
];

/// What `method path` needs. A request no route matched needs a key (so a caller
/// without one learns nothing about which routes exist); a route missing from the
/// table needs `admin`.
pub fn access(method: &Method, matched: Option<&str>) -> Access {
    let Some(path) = matched else {
        return AnyKey;
    };
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    let mut path_known = false;
    for (m, p, a) in ROUTES.iter().chain(CONSOLE_ROUTES) {
        if *p == path {
            path_known = true;
            if *m == method {
                return *a;
            }
        }
    }
    // A method the route does not take is answered 405 once the caller is known.
    if path_known { AnyKey } else { ADMIN }
}

/// The bearer token of a request, if it sent one.
fn bearer(req: &Request) -> Option<&str> {
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// How a request says who it is.
enum Presented<'a> {
    /// `Authorization: Bearer <API key>`.
    Bearer(&'a str),
    /// The console's session cookie (whose writes must also prove they come from a
    /// console page: [`csrf_ok`]).
    Session(&'a str),
}

fn presented(req: &Request) -> Option<Presented<'_>> {
    if let Some(t) = bearer(req) {
        return Some(Presented::Bearer(t));
    }
    session_cookie(req.headers(), over_tls(req.headers())).map(Presented::Session)
}

/// The live key a token belongs to, or why it has none.
pub fn key_of(keys: &crate::engine::keys::Keys, token: &str) -> Result<Arc<ApiKey>, &'static str> {
    let key = token_key_id(token)
        .and_then(|id| keys.get(id))
        .filter(|k| k.matches(token))
        .ok_or("the API key is not valid")?;
    if key.revoked_at.is_some() {
        return Err("the API key has been revoked");
    }
    Ok(key.clone())
}

/// Whether the request's `Host` names this machine: `localhost` (or a name under
/// `.localhost`), 127.0.0.0/8 or `[::1]`, with any port. A request without one (HTTP/1.0)
/// is not from a browser and passes.
fn loopback_host(req: &Request) -> bool {
    let Some(host) = req.headers().get(header::HOST) else {
        return req.uri().host().is_none_or(is_loopback_name);
    };
    let Ok(host) = host.to_str() else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    is_loopback_name(name)
}

fn is_loopback_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn creates_a_key(req: &Request) -> bool {
    req.method() == Method::POST
        && req
            .extensions()
            .get::<MatchedPath>()
            .is_some_and(|p| p.as_str() == "/api/v1/keys")
}

/// Middleware: lets a request through to its route only if its caller may use it.
pub async fn authorize(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
    let need = access(
        req.method(),
        req.extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str),
    );
    if need == Open {
        return next.run(req).await;
    }
    let keys = match s.keys.keys().await {
        Ok(k) => k,
        Err(e) => return ApiError::from(e).into_response(),
    };
    if keys.is_empty() {
        if s.keys.open_allowed {
            if !s.keys.open.any_host && !loopback_host(&req) {
                return ApiError::new(
                    StatusCode::MISDIRECTED_REQUEST,
                    codes::MISDIRECTED_REQUEST,
                    "this server has no API key, so it answers only requests addressed to a \
                     loopback name or address (Host: localhost, 127.0.0.1, [::1])",
                )
                .into_response();
            }
            if !s.keys.open.key_creation && creates_a_key(&req) {
                return ApiError::new(
                    StatusCode::FORBIDDEN,
                    codes::FORBIDDEN,
                    "this server has no API key: create the first one with `docket keys \
                     create --database-url URL --scope admin` (or set \
                     auth.allow_open_key_creation = true)",
                )
                .into_response();
            }
            req.extensions_mut().insert(Caller::Open);
            return super::rate_limit::run(&s, &Caller::Open, req, next).await;
        }
        return unauthorized(
            "no API key exists; create one with `docket keys create --database-url URL --scope admin`",
        );
    }
    let (key, session) = match presented(&req) {
        None => {
            return unauthorized("this route needs an API key: send Authorization: Bearer <token>");
        }
        Some(Presented::Bearer(token)) => match key_of(&keys, token) {
            Ok(k) => (k, None),
            Err(why) => return unauthorized(why),
        },
        Some(Presented::Session(token)) => match session_key(&s.engine, &keys, token).await {
            Ok(k) => (k, Some(token)),
            Err(res) => return res,
        },
    };
    if session.is_some_and(|token| !csrf_ok(&req, token)) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            codes::FORBIDDEN,
            format!(
                "a write signed in with the console's session must carry the {} header",
                super::session::CSRF_HEADER
            ),
        )
        .into_response();
    }
    if let Access::Scope(scope) = need {
        if !key.grants(scope) {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                codes::FORBIDDEN,
                format!("this route needs a key with the scope {scope} (or admin)"),
            )
            .into_response();
        }
    }
    let caller = Caller::Key(key);
    req.extensions_mut().insert(caller.clone());
    super::rate_limit::run(&s, &caller, req, next).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_missing_from_the_table_need_admin_and_head_is_get() {
        assert_eq!(access(&Method::HEAD, Some("/api/v1/cases")), CASES_READ);
        assert_eq!(access(&Method::GET, Some("/api/v1/not-in-table")), ADMIN);
        assert_eq!(access(&Method::PUT, Some("/api/v1/cases")), AnyKey);
        assert_eq!(access(&Method::GET, None), AnyKey);
        assert_eq!(access(&Method::GET, Some("/healthz")), Open);
    }

    #[test]
    fn loopback_names_and_addresses_are_told_from_others() {
        for ok in [
            "localhost",
            "LOCALHOST.",
            "app.localhost",
            "127.0.0.1",
            "127.8.9.1",
            "::1",
        ] {
            assert!(is_loopback_name(ok), "{ok}");
        }
        for bad in [
            "example.com",
            "localhost.example.com",
            "10.0.0.1",
            "0.0.0.0",
            "",
            "::",
        ] {
            assert!(!is_loopback_name(bad), "{bad}");
        }
    }
}
