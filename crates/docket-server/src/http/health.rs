//! Liveness and readiness.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use docket_api::Health;

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// The process is up and serving.
async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        schema_version: None,
    })
}

/// The store answers and its migrations are applied.
async fn readyz(State(s): State<AppState>) -> (StatusCode, Json<Health>) {
    match s.store.schema_version().await {
        Ok(v) if v > 0 => (
            StatusCode::OK,
            Json(Health {
                status: "ready".into(),
                schema_version: Some(v),
            }),
        ),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "unavailable".into(),
                schema_version: None,
            }),
        ),
    }
}
