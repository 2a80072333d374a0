//! Liveness and readiness.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use docket_api::Health;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(super::observe::metrics))
}

/// The process is up and serving.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "operations",
    responses((status = 200, description = "Alive.", body = Health))
)]
async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        schema_version: None,
    })
}

/// The store answers, its migrations are applied and it can accept writes.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready: the store answers and can accept writes, with its schema version.", body = Health),
        (status = 503, description = "Not ready: the store does not answer or cannot accept writes (disk full, read-only).", body = Health,
            headers(("Retry-After" = u64)))
    )
)]
async fn readyz(State(s): State<AppState>) -> Response {
    // Whether it can write, not only answer: a store that reads but cannot write (disk
    // full) is in an outage too, so a readiness check must not end one.
    let version = s.engine.readiness().await;
    match version {
        Ok(v) if v > 0 => (
            StatusCode::OK,
            Json(Health {
                status: "ready".into(),
                schema_version: Some(v),
            }),
        )
            .into_response(),
        // Like every 503, it says when to ask again.
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            Json(Health {
                status: "unavailable".into(),
                schema_version: None,
            }),
        )
            .into_response(),
    }
}
