//! Bulk updates and the jobs that carry them out.

use serde::{Deserialize, Serialize};

/// The `200 OK` of a bulk update: the job is durably stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BulkAccepted {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    pub queued: u64,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_url: Option<String>,
}

/// The `200` of a bulk update (and of retry-failed), tagged by `kind`: `accepted` when
/// the job is stored (the seed's `{jobId, queued, status, statusUrl}`), `job` when the
/// caller waited (`waitForCompletion`) and the job has ended: the job with its first
/// results.
///
/// (The served API description states the union with a `discriminator`.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "camelCase")]
#[allow(clippy::large_enum_variant)]
pub enum BulkAnswer {
    Accepted(BulkAccepted),
    Job(Job),
}

/// A job's status: `GET /api/v1/jobs/{jobId}/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    pub job_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// `queued`, `running`, `completed`, `failed`, `cancelled`.
    pub status: String,
    /// Once ended: `succeeded` (all items), `partial` (some failed), `none` (none applied).
    pub outcome: Option<String>,
    pub total: u64,
    pub processed: u64,
    pub succeeded: u64,
    pub failed: u64,
    /// Items not applied because the job was cancelled (or an atomic job failed).
    pub cancelled: u64,
    /// Percent of items processed, 0 to 100.
    pub progress: f64,
    /// While queued: 1 for the next job to start.
    pub queue_position: Option<u64>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub duration_ms: Option<u64>,
    /// Once ended: reads sending it as `X-Consistency-Token` see every change of the job.
    pub consistency_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_job_id: Option<String>,
    /// A dry run: no case was (or will be) changed; results are predictions.
    #[serde(default)]
    pub dry_run: bool,
    /// The job this one reverts (`POST /api/v1/jobs/{jobId}/revert`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revert_of: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atomic: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// While an unfinished job cannot progress on the node that answers (its store is
    /// unreachable or cannot write): why, and since when. It resumes by itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stalled: Option<JobStall>,
}

/// Why a job is not progressing: `JobStatus.stalled`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct JobStall {
    /// `service_unavailable`: the store cannot be reached or cannot write.
    pub code: String,
    pub detail: String,
    /// RFC 3339.
    pub since: String,
}

impl JobStatus {
    /// Whether the job has reached an end state.
    pub fn is_finished(&self) -> bool {
        matches!(self.status.as_str(), "completed" | "failed" | "cancelled")
    }
}

/// A job with the first page of its results: `GET /api/v1/jobs/{jobId}`, and the answer
/// of a bulk update with `waitForCompletion`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Job {
    #[serde(flatten)]
    pub status: JobStatus,
    pub results: Vec<ItemResult>,
    pub results_next_cursor: Option<String>,
}

/// How one item fared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ItemResult {
    /// Position of the item in the request, from 0.
    pub index: u64,
    pub case_id: String,
    /// `succeeded`, `failed` or `cancelled`.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ItemError>,
    /// The case's version after the item (succeeded items).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// A bulk create's succeeded item: `created` or `updated` (an upsert).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ItemError {
    pub code: String,
    pub detail: String,
}

/// Query of `GET /api/v1/jobs/{jobId}/results`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResultsQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(example = "failed"))]
    pub outcome: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(minimum = 1))]
    pub limit: Option<u32>,
}

/// Query of `GET /api/v1/jobs`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(example = "completed"))]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(minimum = 1))]
    pub limit: Option<u32>,
}

/// Query of `GET /api/v1/jobs/{jobId}/status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatusQuery {
    /// Long-poll: answer when the job ends or this many seconds pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(maximum = 3600))]
    pub wait_seconds: Option<u32>,
}

/// The body POSTed to a job's `callbackUrl` when it ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CallbackPayload {
    /// `job.completed`, `job.failed` or `job.cancelled`.
    pub event: String,
    pub job: JobStatus,
}

/// `GET /api/v1/jobs/{jobId}/callbacks`: the delivery and every attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CallbackDelivery {
    pub delivery_id: String,
    pub url: String,
    pub event: String,
    /// `pending` (will be tried, or retried), `delivered`, or `failed` (gave up).
    pub state: String,
    pub next_attempt_at: Option<String>,
    pub attempts: Vec<CallbackAttempt>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CallbackAttempt {
    pub attempt: u32,
    pub at: String,
    /// The receiver's HTTP status, when it answered.
    pub status_code: Option<u16>,
    /// Why the attempt failed without an answer (timeout, connection refused).
    pub error: Option<String>,
    pub duration_ms: u64,
}
