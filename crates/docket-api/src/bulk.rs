//! The body of a bulk update: items by case id, or a filter and the change to make to
//! every case it matches, with the item operators and the options.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::nullable;

/// One item of a bulk update: a case and the changes to make to it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BulkItem {
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
            example = "CASE-000001"
        )
    )]
    pub case_id: String,
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
    /// Tags added to the case's tags (not with `tags`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_items = 50))]
    pub tags_add: Option<Vec<String>>,
    /// Tags removed from the case's tags (not with `tags`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_items = 50))]
    pub tags_remove: Option<Vec<String>>,
    /// A precondition: a case that does not match fails the item with
    /// `precondition_failed` and is not changed.
    #[serde(rename = "if", default, skip_serializing_if = "Option::is_none")]
    pub precondition: Option<BulkIf>,
    /// A comment (or internal note) added to the case with the item's change, in its
    /// transaction; alone if the item changes nothing else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<crate::NewComment>,
}

/// `set` of a bulk update by filter: an update item without `caseId` (and without
/// `expectedVersion`), applied to every matching case.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BulkSet {
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
    #[cfg_attr(feature = "openapi", schema(max_items = 50))]
    pub tags_add: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_items = 50))]
    pub tags_remove: Option<Vec<String>>,
    #[serde(rename = "if", default, skip_serializing_if = "Option::is_none")]
    pub precondition: Option<BulkIf>,
    /// A comment added to every matching case with the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<crate::NewComment>,
}

impl BulkSet {
    /// The update item `set` makes of a case: the same changes, for `case_id`.
    pub fn item(&self, case_id: &str) -> BulkItem {
        BulkItem {
            case_id: case_id.to_owned(),
            status: self.status.clone(),
            status_reason: self.status_reason.clone(),
            priority: self.priority.clone(),
            assignee: self.assignee.clone(),
            tags: self.tags.clone(),
            fields: self.fields.clone(),
            expected_version: None,
            tags_add: self.tags_add.clone(),
            tags_remove: self.tags_remove.clone(),
            precondition: self.precondition.clone(),
            comment: self.comment.clone(),
        }
    }
}

/// `if` of an update item: every condition given must hold for the case to be changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BulkIf {
    /// The case is in one of these statuses (matched case-insensitively).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Vec<String>>,
    /// The case is assigned to exactly this name (`null`: to no one).
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub assignee: Option<Option<String>>,
}

/// `filter` of a bulk update by filter: the list endpoint's filters, with the same
/// names and meaning. Every filter given must hold; none given matches every case.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BulkFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(example = "In Progress"))]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Title contains, as the list endpoint's `q`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// RFC 3339: changed at or after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_since: Option<String>,
    /// RFC 3339: changed before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

/// Options of a bulk update. Every one is optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct BulkOptions {
    /// Answer only when the job ends (or `timeoutSeconds` passes: then 202).
    pub wait_for_completion: bool,
    /// How long `waitForCompletion` waits, in seconds.
    #[cfg_attr(feature = "openapi", schema(maximum = 3600))]
    pub timeout_seconds: u32,
    /// `false` leaves `jobId` and `statusUrl` out of the answer.
    pub return_job_id: bool,
    /// POSTed to when the job ends, signed (see docs/api.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// All or nothing: one failed item fails the job and no item is applied.
    pub atomic: bool,
    /// Run the job without changing any case: each item's result is the outcome it
    /// would have had when its chunk ran.
    pub dry_run: bool,
    /// By filter: the number of cases the client expects to match; another number
    /// refuses the request with 409 `count_mismatch` and creates nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_count: Option<u64>,
    /// Bulk create only: `externalId`, to update the case that has an item's
    /// `externalId` instead of creating one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upsert_by: Option<String>,
}

impl Default for BulkOptions {
    fn default() -> Self {
        Self {
            wait_for_completion: false,
            timeout_seconds: 30,
            return_job_id: true,
            callback_url: None,
            atomic: false,
            dry_run: false,
            expected_count: None,
            upsert_by: None,
        }
    }
}

/// The object form of a bulk-update body (the bare array form is `Vec<BulkItem>`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BulkRequest {
    /// The items, by case id (or give `filter` and `set` instead).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub updates: Vec<BulkItem>,
    /// Update every case matching this filter at submit time (with `set`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<BulkFilter>,
    /// The change made to each case of `filter`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<BulkSet>,
    #[serde(default)]
    pub options: BulkOptions,
}

/// The body of `POST /api/v1/cases/bulk-delete`: case ids, or a filter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BulkDeleteRequest {
    /// The cases to delete (or give `filter` instead).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub case_ids: Vec<String>,
    /// Delete every case matching this filter at submit time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<BulkFilter>,
    #[serde(default)]
    pub options: BulkOptions,
}

/// The object form of a bulk-create body (the other forms: a bare JSON array of cases,
/// NDJSON, CSV).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BulkCreateRequest {
    #[cfg_attr(feature = "openapi", schema(min_items = 1))]
    pub cases: Vec<crate::NewCase>,
    #[serde(default)]
    pub options: BulkOptions,
}

/// Query of `POST /api/v1/cases/bulk-create`: the options, for the body forms that
/// cannot carry them (a bare array, NDJSON, CSV). Given with the object form, they
/// override its `options`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BulkCreateQuery {
    /// `externalId`: update the case that has an item's `externalId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upsert_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atomic: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_for_completion: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_job_id: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
}

impl BulkCreateQuery {
    /// `options` with every option given here put over them.
    pub fn over(self, mut options: BulkOptions) -> BulkOptions {
        if let Some(v) = self.upsert_by {
            options.upsert_by = Some(v);
        }
        if let Some(v) = self.dry_run {
            options.dry_run = v;
        }
        if let Some(v) = self.atomic {
            options.atomic = v;
        }
        if let Some(v) = self.expected_count {
            options.expected_count = Some(v);
        }
        if let Some(v) = self.wait_for_completion {
            options.wait_for_completion = v;
        }
        if let Some(v) = self.timeout_seconds {
            options.timeout_seconds = v;
        }
        if let Some(v) = self.return_job_id {
            options.return_job_id = v;
        }
        if let Some(v) = self.callback_url {
            options.callback_url = Some(v);
        }
        options
    }
}
