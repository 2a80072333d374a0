//! `GET/PATCH /api/v1/settings`: the runtime settings under the seed's names. A change
//! is stored, then applied at once (no restart).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use docket_api::{FieldError, codes};
use serde_json::{Map, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::JsonBody;
use super::{AppState, with_token};
use crate::engine::settings::{Settings, SettingsError};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(read, update))
}

/// The runtime settings, under the seed's names.
#[utoipa::path(
    get,
    path = "/api/v1/settings",
    operation_id = "getSettings",
    tag = "settings",
    responses((status = 200, description = "Every setting.", body = Settings))
)]
async fn read(State(s): State<AppState>) -> Json<Settings> {
    Json(s.engine.settings.get())
}

/// Change settings: stored in the database (shared by every node) and applied at once.
#[utoipa::path(
    patch,
    path = "/api/v1/settings",
    operation_id = "updateSettings",
    tag = "settings",
    request_body(content = Settings, content_type = "application/json", description = "The settings to change (any of them)."),
    responses(
        (status = 200, description = "Every setting, as now in force.", body = Settings, headers(("X-Consistency-Token" = String))),
        (status = 400, description = "Not a setting (`unknown_field`), or not JSON.", body = docket_api::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A value out of range (`validation_failed`).", body = docket_api::Problem, content_type = "application/problem+json")
    )
)]
async fn update(
    State(s): State<AppState>,
    JsonBody(patch): JsonBody<Map<String, Value>>,
) -> Result<Response, ApiError> {
    let next = s
        .engine
        .settings
        .get()
        .patched(&patch)
        .map_err(|e| match e {
            SettingsError::Unknown(k) => ApiError {
                errors: vec![FieldError {
                    field: k.clone(),
                    message: "not a setting".into(),
                }],
                ..ApiError::new(
                    StatusCode::BAD_REQUEST,
                    codes::UNKNOWN_FIELD,
                    format!("'{k}' is not a setting"),
                )
            },
            SettingsError::Invalid(list) => ApiError::validation(
                list.into_iter()
                    .map(|(k, m)| crate::domain::FieldError::new(&k, &m))
                    .collect(),
            ),
        })?;
    let changed = s.engine.change_settings(patch, next).await?;
    tracing::info!(settings = ?changed.value, "settings changed");
    Ok(with_token(
        Json(changed.value).into_response(),
        changed.commit,
    ))
}
