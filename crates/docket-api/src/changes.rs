//! The change feed: every committed change, in commit order (`GET /api/v1/changes`,
//! `GET /api/v1/changes/stream`), and the webhooks that push it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Case, JobStatus};

/// The change types, as `type` and the `types` filter name them.
pub const CHANGE_TYPES: &[&str] = &[
    "case.created",
    "case.updated",
    "case.deleted",
    "task.created",
    "task.updated",
    "comment.created",
    "comment.updated",
    "comment.deleted",
    "job.completed",
    "job.failed",
    "job.cancelled",
];

/// One field a change changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    pub field: String,
    pub from: Value,
    pub to: Value,
}

/// One committed change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// The change's place in the commit order; also a valid `X-Consistency-Token` (a
    /// read that sends it sees this change).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub position: String,
    /// One of [`CHANGE_TYPES`].
    #[serde(rename = "type")]
    pub kind: String,
    /// Absent on job events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_id: Option<String>,
    /// The case's version after the change (absent on job events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    pub at: String,
    pub actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment_id: Option<String>,
    pub changes: Vec<FieldChange>,
    /// The case after the change (absent for `case.deleted` and job events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case: Option<Case>,
    /// A job event's job, as it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobStatus>,
}

/// One page of the feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ChangePage {
    pub items: Vec<Change>,
    /// The cursor for the next call: the last item's position, or (no item) the
    /// position the request started after.
    pub next_after: String,
}

/// Query of `GET /api/v1/changes`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangesQuery {
    /// A position (the changes after it), or `now` (only changes committed after the
    /// request). Absent: from the oldest change kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// 1 to 1000 (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000))]
    pub limit: Option<u32>,
    /// Only these types, comma-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub types: Option<String>,
    /// Only this case's changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_id: Option<String>,
    /// Long-poll: with nothing after the cursor, answer as soon as a change commits, or
    /// empty after this many seconds (capped by the server's long-poll limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_seconds: Option<u32>,
}

/// Query of `GET /api/v1/changes/stream`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangeStreamQuery {
    /// As for `GET /api/v1/changes`; a `Last-Event-ID` header wins over it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub types: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_id: Option<String>,
}
