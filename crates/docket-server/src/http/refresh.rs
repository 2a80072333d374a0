//! `POST /api/v1/cases/refresh-status`: authoritative statuses, never from the cache;
//! with `forceCacheInvalidation`, those cases are dropped from every node's cache.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use docket_api::{CaseStatus, Problem, RefreshRequest, RefreshResponse, codes};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::JsonBody;
use super::{AppState, with_token};
use crate::domain::{CaseId, FieldError};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(refresh))
}

/// Authoritative statuses, read from the store (never the cache).
///
/// With `forceCacheInvalidation` the cases are also dropped from every node's cache.
/// At most `Jobs.MaxItemsPerRequest` ids; ids that name no case are listed in
/// `notFound`.
#[utoipa::path(
    post,
    path = "/api/v1/cases/refresh-status",
    operation_id = "refreshStatus",
    tag = "bulk",
    request_body(content = RefreshRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The cases' statuses.", body = RefreshResponse, headers(("X-Consistency-Token" = String))),
        (status = 413, description = "More ids than `Jobs.MaxItemsPerRequest` (`payload_too_large`).", body = Problem, content_type = "application/problem+json")
    )
)]
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
    let (cases, at) = s
        .engine
        .refresh_cases(ids.clone(), body.force_cache_invalidation)
        .await?;
    for id in &ids {
        if !cases.iter().any(|c| &c.id == id) {
            not_found.push(id.to_string());
        }
    }
    let mut invalidated = 0;
    if body.force_cache_invalidation {
        invalidated = cases.len() as u64;
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
