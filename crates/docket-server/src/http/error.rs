//! `ApiError`: every error response, rendered as `application/problem+json`.
//!
//! `IntoResponse` does not log; the trace layer logs the status inside the request span.
//! A 500 never carries internals: the cause is logged where it is converted.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use docket_api::{FieldError, Problem, codes, problem::PROBLEM_JSON};

use crate::domain::{self, ItemError};
use crate::error::Error;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub errors: Vec<FieldError>,
    pub retry_after: Option<u64>,
    /// What went wrong inside, for the log (never sent): `observe` logs it once per
    /// request, with the request id.
    pub cause: Option<String>,
}

/// The inside cause of an error answer, carried to `observe` on the response.
#[derive(Debug, Clone)]
pub struct Cause(pub String);

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
            cause: None,
        }
    }

    /// 422 `validation_failed`, listing every bad field.
    pub fn validation(errors: Vec<domain::FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        Self {
            errors: errors
                .into_iter()
                .map(|e| FieldError {
                    field: e.field,
                    message: e.message,
                })
                .collect(),
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                codes::VALIDATION_FAILED,
                detail,
            )
        }
    }

    /// 400 `invalid_query` naming the parameter.
    pub fn query(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            errors: vec![FieldError {
                field: field.into(),
                message: message.clone(),
            }],
            ..Self::new(
                StatusCode::BAD_REQUEST,
                codes::INVALID_QUERY,
                format!("{field}: {message}"),
            )
        }
    }

    pub fn case_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            codes::CASE_NOT_FOUND,
            format!("case {} does not exist", shown(id)),
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::INTERNAL,
            "the server failed to handle the request; it has been logged",
        )
    }
}

/// A client-supplied id as an error message quotes it: at most 64 characters, so a
/// huge path segment is not echoed back whole.
pub fn shown(id: &str) -> String {
    match id.char_indices().nth(64) {
        Some((cut, _)) => format!("{}…", &id[..cut]),
        None => id.to_owned(),
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound => Self::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, "not found"),
            Error::Conflict(d) => Self::new(StatusCode::CONFLICT, codes::CONFLICT, d),
            Error::Refused(e) => e.into(),
            Error::Unavailable(d) => {
                // The outage is logged once when it begins, not once per request.
                crate::engine::outage::begin(&d);
                Self {
                    retry_after: Some(1),
                    cause: Some(format!("store unavailable: {d}")),
                    ..Self::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        codes::SERVICE_UNAVAILABLE,
                        "the store is busy or unavailable; retry shortly",
                    )
                }
            }
            Error::Other(e) => Self {
                cause: Some(format!("store failure: {e:?}")),
                ..Self::internal()
            },
        }
    }
}

impl From<ItemError> for ApiError {
    fn from(e: ItemError) -> Self {
        match e {
            ItemError::CaseNotFound(id) => Self::case_not_found(&id),
            ItemError::InvalidTransition { .. } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                codes::INVALID_TRANSITION,
                e.to_string(),
            ),
            // A stale `If-Match` or `expectedVersion` on a synchronous write.
            ItemError::VersionConflict { .. } => Self::new(
                StatusCode::PRECONDITION_FAILED,
                codes::VERSION_CONFLICT,
                e.to_string(),
            ),
            ItemError::Validation(errs) => Self::validation(errs),
            ItemError::CaseExists(_) => {
                Self::new(StatusCode::CONFLICT, codes::CASE_EXISTS, e.to_string())
            }
            ItemError::ExternalIdTaken { .. } => Self::new(
                StatusCode::CONFLICT,
                codes::EXTERNAL_ID_TAKEN,
                e.to_string(),
            ),
            ItemError::PreconditionFailed(_) => Self::new(
                StatusCode::PRECONDITION_FAILED,
                codes::PRECONDITION_FAILED,
                e.to_string(),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = Problem {
            kind: format!("/docs/problems#{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail,
            code: self.code.to_owned(),
            errors: self.errors,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut res = (self.status, body).into_response();
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        // A 503 or 429 always says when to retry; a second unless the cause knows better.
        let retry_after = self.retry_after.or(matches!(
            self.status,
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS
        )
        .then_some(1));
        if let Some(s) = retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if let Some(c) = self.cause {
            res.extensions_mut().insert(Cause(c));
        }
        res
    }
}
