//! `POST /api/v1/cases/refresh-status`: authoritative statuses, never from the cache;
//! with `forceCacheInvalidation`, those cases are dropped from every node's cache.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use docket_api::{CaseStatus, RefreshRequest, RefreshResponse, codes};

use super::error::ApiError;
use super::extract::JsonBody;
use super::{AppState, with_token};
use crate::domain::{CaseId, FieldError};

pub fn router() -> Router<AppState> {
    Router::new().route("/cases/refresh-status", post(refresh))
}

async fn refresh(
    State(s): State<AppState>,
    JsonBody(body): JsonBody<RefreshRequest>,
) -> Result<Response, ApiError> {
    let max = s.engine.settings.get().max_items_per_request as usize;
    if body.case_ids.len() > max {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            codes::PAYLOAD_TOO_LARGE,
            format!(
                "{} caseIds; at most {max} (Jobs.MaxItemsPerRequest)",
                body.case_ids.len()
            ),
        ));
    }
    if body.case_ids.is_empty() {
        return Err(ApiError::validation(vec![FieldError::new(
            "caseIds",
            "must not be empty",
        )]));
    }
    let mut not_found = Vec::new();
    let mut ids = Vec::with_capacity(body.case_ids.len());
    for raw in &body.case_ids {
        match CaseId::parse(raw) {
            Ok(id) if !ids.contains(&id) => ids.push(id),
            Ok(_) => {}
            Err(_) => not_found.push(raw.clone()),
        }
    }
    let (cases, at) = s.store.get_cases(ids.clone()).await?;
    for id in &ids {
        if !cases.iter().any(|c| &c.id == id) {
            not_found.push(id.to_string());
        }
    }
    let mut invalidated = 0;
    if body.force_cache_invalidation {
        let found: Vec<&str> = cases.iter().map(|c| c.id.as_str()).collect();
        s.engine.invalidate(&found, at);
        invalidated = found.len() as u64;
    }
    let answer = RefreshResponse {
        cases: cases
            .into_iter()
            .map(|c| CaseStatus {
                case_id: c.id.to_string(),
                status: c.status.to_string(),
                version: c.version,
                updated_at: c.updated_at.to_rfc3339(),
            })
            .collect(),
        not_found,
        invalidated,
        consistency_token: at.token(),
    };
    Ok(with_token(Json(answer).into_response(), at))
}
