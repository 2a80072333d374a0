//! Comments and internal notes on cases, as they travel over HTTP.

use serde::{Deserialize, Serialize};

/// A comment or internal note on a case. `body` is kept exactly as given; show it as
/// text. `visibility` is a label (`internal` or `public`), not a permission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Comment {
    pub comment_id: String,
    pub case_id: String,
    pub body: String,
    /// `internal` or `public`.
    pub visibility: String,
    /// The name of the key that wrote it (`open` in open mode).
    pub author: String,
    pub created_at: String,
    pub updated_at: String,
    /// 1 when written, +1 per edit: the comment's `ETag`.
    pub version: u64,
    /// The bulk job that added it, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
}

/// Body of `POST /api/v1/cases/{caseId}/comments`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewComment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 65536, required = true, nullable = false)
    )]
    pub body: Option<String>,
    /// `internal` (the default, also for `null`) or `public`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(example = "internal"))]
    pub visibility: Option<String>,
}

/// Body of `PATCH /api/v1/cases/{caseId}/comments/{commentId}`: what changes (an
/// absent or `null` member stays as it is).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CommentPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 65536))]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(example = "internal"))]
    pub visibility: Option<String>,
}

/// Query of `GET /api/v1/cases/{caseId}/comments`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CommentQuery {
    /// Only `internal` or only `public` comments (default: both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(minimum = 1))]
    pub limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}
