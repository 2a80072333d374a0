//! The HTTP API (axum): routes, problem+json errors, request limits.

pub mod auth;
mod body_timeout;
mod bulk;
mod bulk_create;
mod bulk_delete;
mod bulk_submit;
mod caller;
mod cases;
mod changes;
mod comments;
mod console;
mod csv;
mod cursor;
mod error;
mod extract;
mod health;
mod job_control;
mod jobs;
mod json_stream;
mod keepalive;
pub mod keys;
mod objects_only;
pub mod observe;
pub mod openapi;
mod openapi_served;
pub mod rate_limit;
mod refresh;
mod results_export;
pub mod serve;
pub mod session;
mod settings;
mod streamed;
mod tasks;
mod webhooks;
mod workflow;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use docket_api::codes;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

pub use error::ApiError;

use crate::config::Config;
use crate::domain::CommitSeq;
use crate::domain::Workflow;
use crate::engine::Engine;

/// What every handler can reach: one shared [`Shared`], so handing it to a handler or
/// a middleware costs one reference count, however many parts it has.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The parts of [`AppState`].
pub struct Shared {
    pub engine: Arc<Engine>,
    pub workflow: Arc<Workflow>,
    pub config: Arc<Config>,
    /// The API keys, as last read from the store.
    pub keys: Arc<crate::engine::keys::KeyRing>,
    /// Per-key rate limits, when on (`rate_limit` in the configuration).
    pub rate_limiter: Option<Arc<rate_limit::RateLimiter>>,
}

impl AppState {
    /// Page size for a listing: the default when absent; 400 when out of range.
    pub fn page_size(&self, limit: Option<u32>) -> Result<u32, ApiError> {
        let max = self.config.limits.max_page_size;
        match limit {
            None => Ok(self.config.limits.default_page_size),
            Some(n) if (1..=max).contains(&n) => Ok(n),
            Some(_) => Err(ApiError::query(
                "limit",
                format!("must be between 1 and {max}"),
            )),
        }
    }
}

/// Adds `X-Consistency-Token` to a write response.
pub fn with_token(mut res: Response, commit: CommitSeq) -> Response {
    if let Ok(v) = HeaderValue::from_str(&commit.token()) {
        res.headers_mut()
            .insert(docket_api::CONSISTENCY_TOKEN_HEADER, v);
    }
    res
}

/// Every route and the OpenAPI document describing them, from one registration.
pub fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, doc) = utoipa_axum::router::OpenApiRouter::with_openapi(openapi::base())
        .merge(health::router())
        .merge(cases::router())
        .merge(changes::router())
        .merge(bulk::router())
        .merge(bulk_delete::router())
        .merge(bulk_create::router())
        .merge(tasks::router())
        .merge(comments::router())
        .merge(jobs::router())
        .merge(job_control::router())
        .merge(refresh::router())
        .merge(settings::router())
        .merge(keys::router())
        .merge(webhooks::router())
        .merge(workflow::router())
        .routes(utoipa_axum::routes!(openapi::document))
        .routes(utoipa_axum::routes!(openapi::docs))
        .split_for_parts();
    (router, openapi::complete(doc))
}

/// The whole application router.
pub fn router(state: AppState) -> Router {
    let body_limit = state.config.server.max_body_bytes;
    let (routes, mut doc) = routes();
    if let Err(e) = openapi::check_against_table(&mut doc) {
        // A route missing from the table would need `admin` by accident: say so loudly
        // (the test suite fails on it too).
        tracing::error!("{e}");
    }
    let served = openapi::Served(std::sync::Arc::new(openapi_served::served_json(
        &doc,
        &state.workflow,
        &state.config,
    )));
    routes
        .merge(console::router())
        .layer(axum::Extension(served))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // One stack, applied with one `layer` call: axum boxes each layer it is given at
        // every route, and a request then pays an allocation and a clone per layer. From
        // the outside in: compression, `observe` (request id, metrics, the request and
        // body deadlines), the trace span, panics to 500, the body limit, `authorize`.
        .layer(
            tower::ServiceBuilder::new()
                .layer(compression())
                .layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    observe::observe,
                ))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(observe::span)
                        // 5xx answers are logged once, by `observe`, with their cause.
                        .on_failure(()),
                )
                .layer(CatchPanicLayer::custom(|_| {
                    ApiError::internal().into_response()
                }))
                .layer(DefaultBodyLimit::max(body_limit))
                .layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    auth::authorize,
                )),
        )
        .with_state(state)
}

/// gzip or brotli, as the client's `Accept-Encoding` asks, for answers over 1 KiB (a
/// page of 1,000 demo cases is 376 KB, 35 KB gzipped). Smaller answers are sent as they
/// are: compressing a single case costs more than it saves. Event streams are never
/// compressed (the encoder would hold events back), nor are images.
fn compression()
-> tower_http::compression::CompressionLayer<impl tower_http::compression::Predicate> {
    use tower_http::compression::predicate::{NotForContentType, Predicate as _, SizeAbove};
    tower_http::compression::CompressionLayer::new()
        .gzip(true)
        .br(true)
        .compress_when(
            SizeAbove::new(1024)
                .and(NotForContentType::SSE)
                .and(NotForContentType::IMAGES)
                .and(NotForContentType::GRPC),
        )
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        codes::METHOD_NOT_ALLOWED,
        "this route does not take that method",
    )
}

/// The `Cache-Control` of API reads (GET and HEAD under `/api/v1/`), errors included,
/// unless the handler chose its own: a case can change the moment after it is read, so
/// no shared cache may keep one and a browser must ask again before reusing it. Set by
/// [`observe::observe`], the outermost per-request middleware, so every answer to an API
/// read gets it whichever layer made it.
pub const API_READ_CACHE_CONTROL: &str = "private, no-cache";

/// Answers 503 `timeout` when a handler takes longer than `limit` to produce its
/// response head (streamed bodies are not cut). Called by [`observe::observe`].
async fn request_timeout(limit: Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        // Like every 503, it carries `Retry-After` (see `ApiError`'s `IntoResponse`).
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::TIMEOUT,
            "the request took too long",
        )
        .into_response(),
    }
}
