//! `POST /api/v1/cases/bulk-delete`: a job that deletes cases, named by id or by a
//! filter, with the options and answers of a bulk update.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use docket_api::{BulkDeleteRequest, Problem};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Caller;
use super::bulk_submit::{
    JobParts, bulk_filter, check_ids, check_options, filter_max, invalid, submit,
};
use super::error::ApiError;
use super::extract::{RawJson, parse_json};
use crate::domain::{ByFilter, JobKind};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(bulk_delete))
}

/// Delete cases as one durable job (`type` `bulk-delete`).
///
/// `{"caseIds": [..]}` or `{"filter": {..}}` (the case list's filters; the matching
/// cases are fixed when the job is stored), with the options of a bulk update
/// (`dryRun`, `expectedCount`, `atomic`, `waitForCompletion`, `callbackUrl`, ...). Each
/// item deletes its case with its tasks and history, as `DELETE /api/v1/cases/{caseId}`
/// does, and records `case.deleted` in the change feed; an id that names no case fails
/// its item with `case_not_found`. A bulk delete cannot be reverted.
#[utoipa::path(
    post,
    path = "/api/v1/cases/bulk-delete",
    operation_id = "bulkDelete",
    tag = "bulk",
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters.")),
    request_body(content = BulkDeleteRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The job is stored (or, waited for, has ended).", body = docket_api::BulkAnswer,
            headers(("Location" = String, description = "The job's status URL (unless `returnJobId` is false)."),
                ("X-Consistency-Token" = String, description = "The submission's commit; a finished job's own token when waited for."))),
        (status = 202, description = "`waitForCompletion` timed out: the job's current status.", body = docket_api::JobStatus),
        (status = 400, description = "Malformed JSON, an unknown field, or a bad `Idempotency-Key`.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`options.expectedCount` differs from the number of ids or matches (`count_mismatch`); nothing was created.", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "More ids than `Jobs.MaxItemsPerRequest`, more matches than `Jobs.MaxItemsPerFilter`, or the body is too large (`payload_too_large`).", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No ids, an id twice, ids with a filter, a bad filter or option (`validation_failed`), or a reused `Idempotency-Key` (`idempotency_key_reused`).", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many items queued (`queue_full`); see `Retry-After`.", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64)))
    )
)]
async fn bulk_delete(
    State(s): State<AppState>,
    headers: HeaderMap,
    caller: Caller,
    RawJson(bytes): RawJson,
) -> Result<Response, ApiError> {
    let r: BulkDeleteRequest = parse_json(&bytes)?;
    check_options(&r.options, &s, JobKind::Delete)?;
    let parts = match r.filter {
        Some(_) if !r.case_ids.is_empty() => return Err(invalid("caseIds", "not with filter")),
        Some(filter) => JobParts {
            kind: JobKind::Delete,
            items: Vec::new(),
            by_filter: Some(ByFilter {
                filter: bulk_filter(&s, filter)?,
                max: filter_max(&s, &r.options),
                expected: r.options.expected_count,
            }),
            template: None,
            upsert_by: None,
        },
        None => {
            let ids: Vec<&str> = r.case_ids.iter().map(String::as_str).collect();
            check_ids("caseIds", &ids, |i| format!("caseIds[{i}]"), &r.options, &s)?;
            JobParts {
                kind: JobKind::Delete,
                // A deletion needs nothing but its case.
                items: r
                    .case_ids
                    .iter()
                    .map(|id| (id.clone(), String::new()))
                    .collect(),
                by_filter: None,
                template: None,
                upsert_by: None,
            }
        }
    };
    submit(&s, &headers, &caller, &bytes, parts, &r.options).await
}
