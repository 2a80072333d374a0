//! `PATCH|POST /api/v1/cases/bulk-update`: request-level checks, then one transaction
//! stores the job and all its items before the `200`.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use docket_api::{BulkFilter, BulkItem, BulkOptions, BulkRequest, BulkSet, Problem};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Caller;
use super::bulk_submit::{
    JobParts, bulk_filter, check_ids, check_options, filter_max, invalid, submit,
};
use super::error::ApiError;
use super::extract::{RawJson, parse_json};
use crate::domain::{ByFilter, set_change};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(bulk_update))
}

/// The body of a bulk update: the object form, or a bare array of items (default
/// options). For the API description only: `parse_body` reads the body.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code, clippy::large_enum_variant)]
enum BulkBody {
    Request(BulkRequest),
    Items(Vec<BulkItem>),
}

/// What a bulk update names: items by case id, or every case a filter matches.
enum Source {
    Items(Vec<BulkItem>),
    Filter(BulkFilter, Box<BulkSet>),
}

/// Splits either body form into what it names and its options.
fn parse_body(bytes: &[u8]) -> Result<(Source, BulkOptions), ApiError> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => Ok((
            Source::Items(parse_json::<Vec<BulkItem>>(bytes)?),
            BulkOptions::default(),
        )),
        Some(b'{') => {
            let r: BulkRequest = parse_json(bytes)?;
            let source = match (r.filter, r.set) {
                (None, None) => Source::Items(r.updates),
                (Some(_), Some(_)) if !r.updates.is_empty() => {
                    return Err(invalid("updates", "not with filter and set"));
                }
                (Some(f), Some(set)) => Source::Filter(f, Box::new(set)),
                (Some(_), None) => return Err(invalid("set", "required with filter")),
                (None, Some(_)) => return Err(invalid("filter", "required with set")),
            };
            Ok((source, r.options))
        }
        // Not JSON at all is 400; JSON of the wrong shape is 422.
        _ => parse_json::<Value>(bytes).and_then(|_| {
            Err(invalid(
                "body",
                "must be an array of updates or an object with \"updates\" (or \"filter\" and \"set\")",
            ))
        }),
    }
}

/// A filter job's items: the filter, read as the list endpoint reads its query, and
/// `set`, checked as an item is, as the template every matching case applies.
fn by_filter(
    s: &AppState,
    filter: BulkFilter,
    set: &BulkSet,
    options: &BulkOptions,
) -> Result<(ByFilter, String), ApiError> {
    let filter = bulk_filter(s, filter)?;
    set_change(set, &s.workflow).map_err(ApiError::validation)?;
    let changes_nothing = BulkSet {
        precondition: set.precondition.clone(),
        ..BulkSet::default()
    };
    if *set == changes_nothing {
        return Err(invalid("set", "must change at least one field"));
    }
    let template = serde_json::to_string(&set.item("")).map_err(|_| ApiError::internal())?;
    let by = ByFilter {
        filter,
        max: filter_max(s, options),
        expected: options.expected_count,
    };
    Ok((by, template))
}

/// Bulk-update cases as one durable job.
///
/// `200` once the job and all its items are stored (`Location` is its status URL);
/// with `waitForCompletion`, when the job ends (`202` with the current status if
/// `timeoutSeconds` passes first). Each item may set `status, statusReason, priority,
/// assignee, tags, fields`, add or remove tags (`tagsAdd`, `tagsRemove`), carry a
/// precondition (`if`) and `expectedVersion`; an item that cannot apply fails alone, in
/// the job's results. Instead of `updates`, `filter` and `set` update every case the
/// filter (the case list's filters) matches when the job is stored, in the same
/// transaction: cases that match later are not included. `options.dryRun` changes
/// nothing and reports what each item would do; `options.expectedCount` refuses the
/// request (409 `count_mismatch`) unless that many items are named or matched. Also
/// accepted as `POST`. `Idempotency-Key`: the same key and body within 24 h returns the
/// original job.
#[utoipa::path(
    method(patch, post),
    path = "/api/v1/cases/bulk-update",
    operation_id = "bulkUpdate",
    tag = "bulk",
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters.")),
    request_body(content = BulkBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The job is stored (or, waited for, has ended).", body = docket_api::BulkAnswer,
            headers(("Location" = String, description = "The job's status URL (unless `returnJobId` is false)."),
                ("X-Consistency-Token" = String, description = "The submission's commit; a finished job's own token when waited for."))),
        (status = 202, description = "`waitForCompletion` timed out: the job's current status.", body = docket_api::JobStatus),
        (status = 400, description = "Malformed JSON, an unknown field, or a bad `Idempotency-Key`.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`options.expectedCount` differs from the number of items or matches (`count_mismatch`); nothing was created.", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "More items than `Jobs.MaxItemsPerRequest`, more matches than `Jobs.MaxItemsPerFilter`, or the body is too large (`payload_too_large`).", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No items, a case twice, a bad option (`validation_failed`) or a reused `Idempotency-Key` with another body (`idempotency_key_reused`).", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many items queued (`queue_full`); see `Retry-After`.", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64)))
    )
)]
async fn bulk_update(
    State(s): State<AppState>,
    headers: HeaderMap,
    caller: Caller,
    RawJson(bytes): RawJson,
) -> Result<Response, ApiError> {
    let (source, options) = parse_body(&bytes)?;
    check_options(&options, &s, crate::domain::JobKind::Update)?;
    let (items, by_filter, template) = match source {
        Source::Items(items) => {
            let ids: Vec<&str> = items.iter().map(|i| i.case_id.as_str()).collect();
            check_ids(
                "updates",
                &ids,
                |i| format!("updates[{i}].caseId"),
                &options,
                &s,
            )?;
            let mut encoded = Vec::with_capacity(items.len());
            for item in &items {
                let json = serde_json::to_string(item).map_err(|_| ApiError::internal())?;
                encoded.push((item.case_id.clone(), json));
            }
            (encoded, None, None)
        }
        Source::Filter(filter, set) => {
            let (by, template) = by_filter(&s, filter, &set, &options)?;
            (Vec::new(), Some(by), Some(template))
        }
    };
    let parts = JobParts {
        kind: crate::domain::JobKind::Update,
        items,
        by_filter,
        template,
        upsert_by: None,
    };
    submit(&s, &headers, &caller, &bytes, parts, &options).await
}
