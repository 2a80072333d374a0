//! The console's session cookie: its names, which one counts over TLS, the CSRF token
//! derived from it, and the session it names in the store.
//!
//! A session token is issued at sign-in (`console/mod.rs`, [`crate::domain::issue_session`])
//! and looked up in the store on every request that presents it, so a session ended on
//! any node (sign-out, its key revoked, expiry) is refused on all of them at once. It acts
//! as its key; its writes must carry its CSRF token in [`CSRF_HEADER`].

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};

use super::caller::unauthorized;
use super::error::ApiError;
use crate::domain::{ApiKey, is_session_token, same_bytes, token_hash};
use crate::engine::keys::Keys;

/// The name of the console's session cookie over plain HTTP. It holds a session token
/// issued at sign-in (see [`crate::domain::issue_session`]), never the API key, and is
/// HttpOnly and SameSite=Strict: page scripts cannot read it and other sites' requests do
/// not carry it.
pub const SESSION_COOKIE: &str = "docket_session";
/// The console's CSRF cookie: readable by its scripts, which echo it in [`CSRF_HEADER`].
pub const CSRF_COOKIE: &str = "docket_csrf";
/// The prefix the cookies carry when set over TLS: a `__Host-` cookie is only accepted
/// from this host, `Secure`, on `/`, so a sibling subdomain cannot plant one.
pub const HOST_PREFIX: &str = "__Host-";
/// [`SESSION_COOKIE`] as set over TLS.
const HOST_SESSION_COOKIE: &str = "__Host-docket_session";
/// The header a write authenticated by the session cookie must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The CSRF token of a session: derived from the session's token, so only a page that
/// can read this origin's cookies knows it, it changes with every sign-in, and any node
/// can check it without more state than the session itself.
pub fn csrf_token(session_token: &str) -> String {
    let digest = token_hash(&format!("docket-console-csrf\0{session_token}"));
    crate::domain::hex(&digest[..16])
}

/// Whether the request came over TLS: a proxy in front says so in `X-Forwarded-Proto`
/// (the server itself speaks plain HTTP), or a browser's `Origin` is `https://`. Decides
/// the cookies' names and `Secure` at sign-in, and which session cookie is accepted.
pub fn over_tls(headers: &HeaderMap) -> bool {
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    proto.is_some_and(|p| p.eq_ignore_ascii_case("https"))
        || origin.is_some_and(|o| o.starts_with("https://"))
}

/// A cookie's value in the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// The session token a request's cookies carry. Over TLS only the `__Host-` cookie
/// counts: a plain-named one may have been planted by a sibling subdomain or over plain
/// HTTP (session fixation), so it is ignored there. Without TLS the plain name counts,
/// and a `__Host-` cookie is preferred when both are sent: a browser keeps one only if
/// it was set `Secure` by this very host, so it is never the weaker of the two (and a
/// proxy that terminates TLS without saying so still works).
pub fn session_cookie(headers: &HeaderMap, tls: bool) -> Option<&str> {
    let host = cookie(headers, HOST_SESSION_COOKIE);
    if tls {
        host
    } else {
        host.or_else(|| cookie(headers, SESSION_COOKIE))
    }
}

/// Whether a write sent with the session cookie carries the session's CSRF token.
pub(super) fn csrf_ok(req: &Request, session_token: &str) -> bool {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    let sent = req
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    same_bytes(sent.as_bytes(), csrf_token(session_token).as_bytes())
}

/// The live key a console session acts as, read from the store on every request so a
/// session ended on any node (sign-out, its key revoked) is refused on every node at
/// once. `Err` is the response to send.
pub(super) async fn session_key(
    engine: &crate::engine::Engine,
    keys: &Keys,
    token: &str,
) -> Result<Arc<ApiKey>, Response> {
    const ENDED: &str = "the console session has ended (signed out, expired, or its key was \
                         revoked): sign in again";
    if !is_session_token(token) {
        return Err(unauthorized(ENDED));
    }
    let session = engine
        .live_session(token_hash(token))
        .await
        .map_err(|e| ApiError::from(e).into_response())?
        .ok_or_else(|| unauthorized(ENDED))?;
    match keys.get(&session.key_id) {
        Some(k) if k.revoked_at.is_none() => Ok(k.clone()),
        _ => Err(unauthorized("the API key of this session has been revoked")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn over_tls_only_the_host_prefixed_session_cookie_counts() {
        let with = |cookies: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::COOKIE, HeaderValue::from_str(cookies).unwrap());
            h
        };
        let plain = with("docket_session=planted");
        assert_eq!(session_cookie(&plain, true), None);
        assert_eq!(session_cookie(&plain, false), Some("planted"));
        let both = with("docket_session=planted; __Host-docket_session=mine");
        assert_eq!(session_cookie(&both, true), Some("mine"));
        assert_eq!(session_cookie(&both, false), Some("mine"));
        let mut tls = with("docket_session=planted");
        tls.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(over_tls(&tls));
        assert!(!over_tls(&plain));
    }

    #[test]
    fn the_tls_session_cookie_is_the_session_cookie_with_the_host_prefix() {
        assert_eq!(
            HOST_SESSION_COOKIE,
            format!("{HOST_PREFIX}{SESSION_COOKIE}")
        );
    }
}
