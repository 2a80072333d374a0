//! `POST /api/v1/cases/bulk-delete`: a job that deletes cases, named by id or by a
//! filter, with the options and answers of a bulk update.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use docket_api::{BulkDeleteRequest, BulkFilter, BulkOptions, Problem};
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
use crate::domain::{ByFilter, JobItems, JobKind};
use std::io::BufRead;
use std::sync::Arc;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(bulk_delete))
}

/// Delete cases as one durable job (`type` `bulk-delete`).
///
/// `{"caseIds": [..]}` or `{"filter": {..}}` (the case list's filters; the matching
/// cases are fixed when the job is stored), with the options of a bulk update
/// (`dryRun`, `expectedCount`, `atomic`, `waitForCompletion`, `callbackUrl`, ...). Each
/// item deletes its case with its tasks, comments and history, as `DELETE /api/v1/cases/{caseId}`
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
        (status = 202, description = "`waitForCompletion` timed out: the job's current status.", body = docket_api::JobStatus,
            headers(("Location" = String, description = "The job's status URL (unless `returnJobId` is false)."),
                ("X-Consistency-Token" = String, description = "The submission's commit."))),
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
    body: Streamed,
) -> Result<Response, ApiError> {
    body.json_only()?;
    let max = s.engine.settings.get().max_items_per_request;
    let ((ids, filter, options), digest) = body.parse(move |input| read_body(input, max)).await?;
    check_options(&options, &s, JobKind::Delete)?;
    let parts = match filter {
        Some(_) if ids.count() > 0 => return Err(invalid("caseIds", "not with filter")),
        Some(filter) => JobParts {
            kind: JobKind::Delete,
            items: JobItems::Listed(Vec::new()),
            by_filter: Some(ByFilter {
                filter: bulk_filter(&s, filter)?,
                max: filter_max(&s, &options),
                expected: options.expected_count,
            }),
            template: None,
            upsert_by: None,
        },
        None => {
            let spool = ids.finish(
                "caseIds",
                |id, _| vec![Some(id.to_owned())],
                |_, i| format!("caseIds[{i}]"),
            )?;
            check_expected(spool.len(), &options)?;
            JobParts {
                kind: JobKind::Delete,
                items: JobItems::Spooled(Arc::new(spool)),
                by_filter: None,
                template: None,
                upsert_by: None,
            }
        }
    };
    submit(&s, &headers, &caller, &digest, parts, &options).await
}

const SHAPE: Shape = Shape {
    array: "caseIds",
    members: &["caseIds", "filter", "options"],
    bare: false,
    expecting: "an object with \"caseIds\" or \"filter\"",
};

/// Reads the body as it arrives: its ids spooled (a deletion needs nothing but its
/// case), its filter and its options.
fn read_body(
    input: &mut dyn BufRead,
    max: u32,
) -> Result<(Spooler, Option<BulkFilter>, BulkOptions), ApiError> {
    let mut ids = Spooler::new(max, 1)?;
    let split = split_json(input, &SHAPE, &mut |at, raw| {
        let id: String = parse_json_at(raw.get().as_bytes(), at)?;
        ids.push(&id, "", &[Some(&id)])
    })?;
    let filter = split
        .member("filter")
        .map(|raw| parse_json_at(raw, "filter"))
        .transpose()?;
    let options = match split.member("options") {
        Some(raw) => parse_json_at(raw, "options")?,
        None => BulkOptions::default(),
    };
    Ok((ids, filter, options))
}
