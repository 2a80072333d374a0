//! `PATCH|POST /api/v1/cases/bulk-update`: request-level checks, then one transaction
//! stores the job and all its items before the `200`.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use docket_api::{BulkFilter, BulkItem, BulkOptions, BulkRequest, BulkSet, Problem};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Caller;
use super::bulk_submit::{
    JobParts, Spooler, bulk_filter, check_expected, check_options, filter_max, invalid, submit,
};
use super::error::ApiError;
use super::extract::parse_json_at;
use super::json_stream::{Shape, split_json};
use super::streamed::Streamed;
use crate::domain::{ByFilter, JobItems, set_change};
use crate::spool::ItemSpool;
use std::io::BufRead;
use std::sync::Arc;

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
    Items(ItemSpool),
    Filter(BulkFilter, Box<BulkSet>),
}

const SHAPE: Shape = Shape {
    array: "updates",
    members: &["updates", "filter", "set", "options"],
    bare: true,
    expecting: "an array of updates or an object with \"updates\" (or \"filter\" and \"set\")",
};

/// Reads either body form as it arrives: its items spooled (at most `max`), or its
/// filter and set; and its options.
fn read_body(input: &mut dyn BufRead, max: u32) -> Result<(Source, BulkOptions), ApiError> {
    let mut items = Spooler::new(max, 1)?;
    let split = split_json(input, &SHAPE, &mut |at, raw| {
        let item: BulkItem = parse_json_at(raw.get().as_bytes(), at)?;
        let json = serde_json::to_string(&item).map_err(|_| ApiError::internal())?;
        items.push(&item.case_id, &json, &[Some(&item.case_id)])
    })?;
    let options: BulkOptions = match split.member("options") {
        Some(raw) => parse_json_at(raw, "options")?,
        None => BulkOptions::default(),
    };
    let filter: Option<BulkFilter> = split
        .member("filter")
        .map(|raw| parse_json_at(raw, "filter"))
        .transpose()?;
    let set: Option<BulkSet> = split
        .member("set")
        .map(|raw| parse_json_at(raw, "set"))
        .transpose()?;
    let source = match (filter, set) {
        (None, None) => Source::Items(items.finish(
            "updates",
            |case_id, _| vec![Some(case_id.to_owned())],
            |_, i| format!("updates[{i}].caseId"),
        )?),
        (Some(_), Some(_)) if items.count() > 0 => {
            return Err(invalid("updates", "not with filter and set"));
        }
        (Some(f), Some(set)) => Source::Filter(f, Box::new(set)),
        (Some(_), None) => return Err(invalid("set", "required with filter")),
        (None, Some(_)) => return Err(invalid("filter", "required with set")),
    };
    Ok((source, options))
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
        (status = 202, description = "`waitForCompletion` timed out: the job's current status.", body = docket_api::JobStatus,
            headers(("Location" = String, description = "The job's status URL (unless `returnJobId` is false)."),
                ("X-Consistency-Token" = String, description = "The submission's commit."))),
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
    body: Streamed,
) -> Result<Response, ApiError> {
    body.json_only()?;
    let max = s.engine.settings.get().max_items_per_request;
    let ((source, options), digest) = body.parse(move |input| read_body(input, max)).await?;
    check_options(&options, &s, crate::domain::JobKind::Update)?;
    let (items, by_filter, template) = match source {
        Source::Items(spool) => {
            check_expected(spool.len(), &options)?;
            (JobItems::Spooled(Arc::new(spool)), None, None)
        }
        Source::Filter(filter, set) => {
            let (by, template) = by_filter(&s, filter, &set, &options)?;
            (JobItems::Listed(Vec::new()), Some(by), Some(template))
        }
    };
    let parts = JobParts {
        kind: crate::domain::JobKind::Update,
        items,
        by_filter,
        template,
        upsert_by: None,
    };
    submit(&s, &headers, &caller, &digest, parts, &options).await
}
