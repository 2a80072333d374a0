//! Cases, their tasks and their history, as they travel over HTTP.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::nullable;

/// A case as every read returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Case {
    pub case_id: String,
    pub title: String,
    pub description: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub priority: String,
    pub assignee: Option<String>,
    pub tags: Vec<String>,
    pub fields: Map<String, Value>,
    pub open_tasks: u32,
    pub version: u64,
    pub created_at: String,
    pub updated_at: String,
    /// The case's id in another system (unique when set), or null.
    pub external_id: Option<String>,
    /// How many comments and internal notes the case has.
    #[serde(default)]
    pub comment_count: u32,
}

/// Body of `POST /api/v1/cases`. Only `title` is required; `caseId` is generated when absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewCase {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
            example = "CASE-000001"
        )
    )]
    pub case_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 500, required = true, nullable = false)
    )]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 20000))]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(example = "Under Review"))]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 1000))]
    pub status_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(example = "High"))]
    pub priority: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub assignee: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_items = 50))]
    pub tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Map<String, Value>>,
    /// The case's id in another system: 1 to 128 printable ASCII characters, unique.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 128, pattern = r"^[ -~]{1,128}$")
    )]
    pub external_id: Option<String>,
}

/// A partial change to one case: the body of `PATCH /api/v1/cases/{caseId}`.
///
/// Absent fields stay as they are. `statusReason` and `assignee` may be `null` to clear
/// them. `tags` replaces the whole list; `fields` merges key by key, a `null` value
/// removing that key. `expectedVersion` makes the change conditional, like `If-Match`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CasePatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 500))]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 20000))]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(example = "Under Review"))]
    pub status: Option<String>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(max_length = 1000))]
    pub status_reason: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(example = "High"))]
    pub priority: Option<String>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub assignee: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_items = 50))]
    pub tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_version: Option<u64>,
    /// The case's id in another system (unique); `null` removes it.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 128, pattern = r"^[ -~]{1,128}$")
    )]
    pub external_id: Option<Option<String>>,
}

/// Query of `GET /api/v1/cases`. Every filter given must hold (they combine with AND),
/// whatever the `sort`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CaseQuery {
    /// Only cases in this status (matched case-insensitively).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Only cases assigned to exactly this name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(max_length = 200))]
    pub assignee: Option<String>,
    /// Only cases carrying this tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(max_length = 64))]
    pub tag: Option<String>,
    /// Only cases changed at or after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(format = DateTime))]
    pub updated_since: Option<String>,
    /// Only cases last changed before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(format = DateTime))]
    pub updated_before: Option<String>,
    /// Only the case with this `externalId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(max_length = 128))]
    pub external_id: Option<String>,
    /// Only cases whose title contains this text, ignoring case (ASCII letters always;
    /// other letters on PostgreSQL). `%`, `_` and `\` match themselves. Empty means
    /// no filter; otherwise at least 3 characters (shorter text could only be found by
    /// reading every case, so it is refused with 400 `invalid_query`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(max_length = 200, example = "refund"))]
    pub q: Option<String>,
    /// The order of the listing (default `createdAt`). A cursor continues only the
    /// order it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(inline))]
    pub sort: Option<CaseSort>,
    /// Cases per page (default and maximum set by the server: 50 and 1000 unless
    /// configured otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(minimum = 1))]
    pub limit: Option<u32>,
    /// The previous page's `nextCursor`, given with the same `sort` (and the same
    /// filters, to continue the same listing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// The order of `GET /api/v1/cases`. Cases changed at the same millisecond keep their
/// creation order (in the direction asked), so every order is total.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CaseSort {
    /// Oldest first, in creation order.
    #[default]
    #[serde(rename = "createdAt")]
    CreatedAt,
    /// Newest first.
    #[serde(rename = "-createdAt")]
    CreatedAtDesc,
    /// Least recently changed first.
    #[serde(rename = "updatedAt")]
    UpdatedAt,
    /// Most recently changed first.
    #[serde(rename = "-updatedAt")]
    UpdatedAtDesc,
}

impl CaseSort {
    pub const ALL: [CaseSort; 4] = [
        Self::CreatedAt,
        Self::CreatedAtDesc,
        Self::UpdatedAt,
        Self::UpdatedAtDesc,
    ];

    /// The name on the wire: `createdAt`, `-createdAt`, `updatedAt`, `-updatedAt`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreatedAt => "createdAt",
            Self::CreatedAtDesc => "-createdAt",
            Self::UpdatedAt => "updatedAt",
            Self::UpdatedAtDesc => "-updatedAt",
        }
    }
}

impl std::fmt::Display for CaseSort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for CaseSort {
    type Err = String;

    /// Parses the wire name exactly (the names are case-sensitive, as JSON fields are).
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown sort '{s}' (expected createdAt, -createdAt, updatedAt or -updatedAt)"
                )
            })
    }
}

/// Query of the paged sub-listings (history, tasks).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PageQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(minimum = 1))]
    pub limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// One entry of a case's change log: one field changed by one write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    pub at: String,
    pub actor: String,
    pub field: String,
    pub from: Value,
    pub to: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
}

/// A task related to a case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub task_id: String,
    pub case_id: String,
    pub title: String,
    /// `open` or `done`.
    pub status: String,
    pub assignee: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// Body of `POST /api/v1/cases/{caseId}/tasks`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewTask {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 500, required = true, nullable = false)
    )]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub assignee: Option<String>,
}

/// Body of `PATCH /api/v1/cases/{caseId}/tasks/{taskId}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 500))]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(example = "done"))]
    pub status: Option<String>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub assignee: Option<Option<String>>,
}

/// Body of `GET /healthz` and `GET /readyz`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Health {
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<u32>,
}

/// Body of `POST /api/v1/cases/refresh-status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefreshRequest {
    #[cfg_attr(feature = "openapi", schema(min_items = 1))]
    pub case_ids: Vec<String>,
    #[serde(default)]
    pub force_cache_invalidation: bool,
}

/// One case's authoritative status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CaseStatus {
    pub case_id: String,
    pub status: String,
    pub version: u64,
    pub updated_at: String,
}

/// Answer of `POST /api/v1/cases/refresh-status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RefreshResponse {
    pub cases: Vec<CaseStatus>,
    pub not_found: Vec<String>,
    /// Cases dropped from every node's cache (0 without `forceCacheInvalidation`).
    pub invalidated: u64,
    pub consistency_token: String,
}

/// Answer of `GET /api/v1/workflow`: the statuses this server's cases move through.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct WorkflowInfo {
    /// Every status, canonical names, in display order.
    #[cfg_attr(feature = "openapi", schema(example = json!(["New", "Open", "Closed"])))]
    pub statuses: Vec<String>,
    /// The status of a case created without one.
    #[cfg_attr(feature = "openapi", schema(example = "New"))]
    pub initial: String,
    /// Statuses a case does not leave unless `transitions` names a way out; entering
    /// one closes the case's open tasks.
    pub terminal: Vec<String>,
    /// For every status (a key per status; use `statuses` for their order), the statuses
    /// a case in it may move to, in display order. A status with nowhere to go maps to
    /// `[]`; staying put is always allowed.
    #[cfg_attr(feature = "openapi", schema(example = json!({"New": ["Open", "Closed"], "Open": ["Closed"], "Closed": []})))]
    pub transitions: std::collections::BTreeMap<String, Vec<String>>,
}
