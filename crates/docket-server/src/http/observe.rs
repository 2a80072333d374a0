//! What operators see of each request: an `X-Request-Id` (the client's, when it sent a
//! sane one, else a new one) on the response and in the `request` span every log line
//! of the request carries; its count and latency in `/metrics`, by route template.
//!
//! Metric labels come from fixed sets only (the standard methods, the route templates,
//! `unmatched`): a label taken from the request would let any caller, with or without
//! a key, add series that are kept for the life of the process.

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use docket_api::codes;

use super::AppState;
use super::error::ApiError;
use crate::domain::random_hex;
use crate::metrics::{Route, Snapshot};

pub const REQUEST_ID: &str = "x-request-id";

/// Longest client-chosen request id kept.
const MAX_REQUEST_ID: usize = 128;

/// The client's request id when it is 1 to 128 characters of `[A-Za-z0-9._:/+=@-]`.
fn sane_request_id(headers: &HeaderMap) -> Option<HeaderValue> {
    let v = headers.get(REQUEST_ID)?;
    let ok = !v.is_empty()
        && v.len() <= MAX_REQUEST_ID
        && v.as_bytes()
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"._:/+=@-".contains(b));
    ok.then(|| v.clone())
}

/// The route template a request matched (`/api/v1/cases/{caseId}`), or `unmatched`:
/// never the raw path, so ids do not become metric labels.
pub fn route_of(req: &Request) -> Route {
    Route::of(req.extensions().get::<MatchedPath>())
}

/// The metric label of a standard method (RFC 9110 and PATCH), `None` for any other.
/// HTTP lets a method be any token of any length, so the method itself is never a label.
pub fn method_label(method: &Method) -> Option<&'static str> {
    Some(match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => return None,
    })
}

/// The label under which requests with a made-up method are counted (one series).
const OTHER_METHOD: &str = "other";

/// Middleware (outermost but for compression): request id in, request id out, count and
/// latency, `Cache-Control` on API reads ([`super::API_READ_CACHE_CONTROL`]), and the
/// deadlines: the body's (`server.body_timeout_seconds`, 408) and the response head's
/// (`server.request_timeout_seconds`, 503). One middleware, not three: each costs every
/// request an allocation or two.
pub async fn observe(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = sane_request_id(req.headers()).unwrap_or_else(|| {
        HeaderValue::from_str(&random_hex(8)).unwrap_or(HeaderValue::from_static("none"))
    });
    let Some(method) = method_label(req.method()) else {
        // No route takes a made-up method: it is answered here, before the span, the
        // auth check or a handler make anything of the request, and counted in one
        // fixed series whatever its path.
        s.engine.metrics.http(
            OTHER_METHOD,
            Route::unmatched(),
            StatusCode::METHOD_NOT_ALLOWED.as_u16(),
            started.elapsed(),
        );
        let mut res = ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            codes::METHOD_NOT_ALLOWED,
            "this server takes only the standard HTTP methods",
        )
        .into_response();
        res.headers_mut().insert(REQUEST_ID, id);
        return res;
    };
    req.headers_mut().insert(REQUEST_ID, id.clone());
    let route = route_of(&req);
    let api_read = matches!(method, "GET" | "HEAD") && req.uri().path().starts_with("/api/v1/");
    let server = &s.config.server;
    let request_limit = Duration::from_secs(server.request_timeout_seconds);
    let body_limit = Duration::from_secs(server.body_timeout_seconds);
    let mut res = super::body_timeout::with_body_deadline(body_limit, req, |req| {
        super::request_timeout(request_limit, req, next)
    })
    .await;
    if api_read {
        res.headers_mut()
            .entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static(super::API_READ_CACHE_CONTROL));
    }
    let status = res.status();
    log_failure(&res, status, &id, &route);
    s.engine
        .metrics
        .http(method, route, status.as_u16(), started.elapsed());
    res.headers_mut().insert(REQUEST_ID, id);
    res
}

/// Logs a 5xx answer once, here, with its request id, route and inside cause (the
/// [`super::error::Cause`] an `ApiError` carries): a 503 is the expected answer while
/// the store is unavailable or a request runs too long (the outage itself is logged
/// once by `engine::outage`), so it is a debug line; anything else is an error.
fn log_failure(res: &Response, status: StatusCode, id: &HeaderValue, route: &Route) {
    if !status.is_server_error() {
        return;
    }
    let request_id = id.to_str().unwrap_or_default();
    let cause = res
        .extensions()
        .get::<super::error::Cause>()
        .map_or("", |c| c.0.as_str());
    if status == StatusCode::SERVICE_UNAVAILABLE {
        tracing::debug!(request_id, route = route.as_str(), cause, "answered 503");
    } else {
        tracing::error!(
            request_id,
            route = route.as_str(),
            status = status.as_u16(),
            cause,
            "request failed"
        );
    }
}

/// The span of a request: every log line inside it names the request.
pub fn span(req: &Request) -> tracing::Span {
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        method = %req.method(),
        route = route_of(req).as_str(),
        request_id = %id,
    )
}

/// Prometheus metrics of this node (OpenMetrics text format 1.0.0).
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Every metric, OpenMetrics text format 1.0.0 (Prometheus scrapes it as it is).", content_type = "application/openmetrics-text", body = String),
        (status = 500, description = "The server failed (`internal`).", body = docket_api::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store is busy (`service_unavailable`).", body = docket_api::Problem, content_type = "application/problem+json")
    )
)]
pub async fn metrics(State(s): State<AppState>) -> Result<Response, ApiError> {
    // Rendered during an outage too (the cache and HTTP figures matter most then); the
    // job figures read from the store are left at zero.
    let jobs = s.engine.job_stats().await;
    let store_available = jobs.is_ok() && s.engine.store_available();
    let jobs = jobs.unwrap_or_default();
    let deliveries = s.engine.delivery_stats().await.unwrap_or_default();
    let cache = &s.engine.cache;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    let snap = Snapshot {
        jobs: jobs.by_state,
        queued_items: jobs.queued_items,
        cache_hits: load(&cache.hits),
        cache_misses: load(&cache.misses),
        cache_invalidations: load(&cache.invalidations),
        cache_entries: cache.len() as u64,
        cache_trusted: s.engine.coherence.trusted(),
        cache_connection_lost: load(&s.engine.coherence.lost),
        store_available,
        pool: s.engine.pool_stats(),
        webhook_pending: deliveries.pending,
        webhook_oldest_pending_seconds: deliveries.oldest_pending.map_or(0.0, |t| {
            (s.engine.now().0.saturating_sub(t.0)).max(0) as f64 / 1000.0
        }),
    };
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            crate::metrics::CONTENT_TYPE,
        )],
        s.engine.metrics.render(snap),
    )
        .into_response())
}
