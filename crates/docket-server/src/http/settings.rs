//! `GET/PATCH /api/v1/settings`: the runtime settings under the seed's names. A change
//! is stored, then applied at once (no restart).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use docket_api::{FieldError, codes};
use serde_json::{Map, Value};

use super::AppState;
use super::error::ApiError;
use super::extract::JsonBody;
use crate::engine::settings::{Settings, SettingsError};

pub fn router() -> Router<AppState> {
    Router::new().route("/settings", get(read).patch(update))
}

async fn read(State(s): State<AppState>) -> Json<Settings> {
    Json(s.engine.settings.get())
}

async fn update(
    State(s): State<AppState>,
    JsonBody(patch): JsonBody<Map<String, Value>>,
) -> Result<Json<Settings>, ApiError> {
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
    s.store.save_settings(patch).await?;
    s.engine.settings.set(next.clone());
    tracing::info!(settings = ?next, "settings changed");
    Ok(Json(next))
}
