//! `PATCH|POST /api/v1/cases/bulk-update`: request-level checks, then one transaction
//! stores the job and all its items before the `200`.

use std::collections::HashMap;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use docket_api::{
    BulkAccepted, BulkFilter, BulkItem, BulkOptions, BulkRequest, BulkSet, FieldError, Problem,
    codes,
};
use serde_json::Value;
use sha2::{Digest, Sha256};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{RawJson, parse_json};
use super::jobs::full_job;
use super::{AppState, with_token};
use crate::domain::{ByFilter, CommitSeq, NewJob, SubmitLimits, Submitted, set_change};
use crate::domain::{Job, Timestamp, new_job_id};
use crate::engine::Committed;

/// Idempotency keys are honoured this long.
const IDEMPOTENCY_TTL_MS: i64 = 24 * 3600 * 1000;

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

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::validation(vec![crate::domain::FieldError::new(field, message)])
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

fn count_mismatch(count: u64, expected: u64) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        codes::COUNT_MISMATCH,
        format!("{count} cases match; expectedCount was {expected}"),
    )
}

fn check_items(items: &[BulkItem], options: &BulkOptions, s: &AppState) -> Result<(), ApiError> {
    if items.is_empty() {
        return Err(invalid("updates", "must not be empty"));
    }
    let max = s.engine.settings.get().max_items_per_request;
    if items.len() > max as usize {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            codes::PAYLOAD_TOO_LARGE,
            format!(
                "{} updates in one request; at most {max} (Jobs.MaxItemsPerRequest)",
                items.len()
            ),
        ));
    }
    let mut first: HashMap<&str, usize> = HashMap::with_capacity(items.len());
    let mut dups = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if let Some(j) = first.insert(item.case_id.as_str(), i) {
            first.insert(item.case_id.as_str(), j);
            dups.push(FieldError {
                field: format!("updates[{i}].caseId"),
                message: format!("{} is also updates[{j}]", item.case_id),
            });
        }
    }
    if !dups.is_empty() {
        let ids: Vec<&str> = dups
            .iter()
            .filter_map(|d| d.message.split(' ').next())
            .collect();
        return Err(ApiError {
            errors: dups.clone(),
            ..ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                codes::VALIDATION_FAILED,
                format!(
                    "a case may appear once per request; repeated: {}",
                    ids.join(", ")
                ),
            )
        });
    }
    match options.expected_count {
        Some(e) if e != items.len() as u64 => Err(count_mismatch(items.len() as u64, e)),
        _ => Ok(()),
    }
}

fn check_options(options: &BulkOptions, s: &AppState) -> Result<(), ApiError> {
    if let Some(url) = &options.callback_url {
        let invalid = |m: &str| invalid("options.callbackUrl", m);
        crate::engine::targets::check_url(url, &s.engine.allowed_hosts).map_err(|m| invalid(&m))?;
        if s.engine.callbacks.secret.is_none() {
            return Err(invalid(
                "callbacks are disabled: the server has no callbacks.secret to sign them with",
            ));
        }
    }
    if options.timeout_seconds > 3600 {
        return Err(invalid(
            "options.timeoutSeconds",
            "must be between 0 and 3600",
        ));
    }
    Ok(())
}

/// A bulk update's `filter`, read as the listing reads its query (the same names and
/// meaning); a bad value is 422 `validation_failed` naming `filter.<name>`.
fn bulk_filter(s: &AppState, f: BulkFilter) -> Result<crate::domain::CaseFilter, ApiError> {
    let q = docket_api::CaseQuery {
        status: f.status,
        assignee: f.assignee,
        tag: f.tag,
        q: f.q,
        updated_since: f.updated_since,
        updated_before: f.updated_before,
        ..docket_api::CaseQuery::default()
    };
    super::cases::case_filter(s, q).map_err(|e| {
        ApiError::validation(
            e.errors
                .into_iter()
                .map(|fe| {
                    crate::domain::FieldError::new(&format!("filter.{}", fe.field), &fe.message)
                })
                .collect(),
        )
    })
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
        max: s.engine.settings.get().max_items_per_filter,
        expected: options.expected_count,
    };
    Ok((by, template))
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match v.to_str() {
        Ok(k) if !k.trim().is_empty() && k.len() <= 255 => Ok(Some(k.trim().to_owned())),
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::VALIDATION_FAILED,
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        )),
    }
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
    check_options(&options, &s)?;
    let key = idempotency_key(&headers)?;
    let now = s.engine.now();
    let hash = crate::domain::hex(&Sha256::digest(&bytes));
    let (items, by_filter, template) = match source {
        Source::Items(items) => {
            check_items(&items, &options, &s)?;
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
    let job = NewJob {
        id: new_job_id(),
        items,
        by_filter,
        template,
        dry_run: options.dry_run,
        revert_of: None,
        atomic: options.atomic,
        callback_url: options.callback_url.clone(),
        parent_id: None,
        idempotency: key.map(|k| (k, hash)),
        actor: caller.actor_name(),
        created_at: now,
    };
    let limits = SubmitLimits {
        max_queued_items: s.engine.jobs.max_queued_items,
        idempotency_since: Timestamp(now.0 - IDEMPOTENCY_TTL_MS),
    };
    let Committed { value, commit, .. } = s.engine.submit_job(job, limits).await?;
    let job = match value {
        Submitted::Created(job) => job,
        Submitted::Replayed(job) => job,
        Submitted::KeyReused => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                codes::IDEMPOTENCY_KEY_REUSED,
                "this Idempotency-Key was used with a different request body",
            ));
        }
        Submitted::TooManyMatches { max } => {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                codes::PAYLOAD_TOO_LARGE,
                format!("more than {max} cases match the filter (Jobs.MaxItemsPerFilter)"),
            ));
        }
        Submitted::CountMismatch { count } => {
            return Err(count_mismatch(count, options.expected_count.unwrap_or(0)));
        }
        Submitted::QueueFull { queued } => {
            return Err(ApiError {
                retry_after: Some((queued / 50_000).clamp(1, 60)),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    codes::QUEUE_FULL,
                    format!("{queued} items are already queued; retry later"),
                )
            });
        }
    };
    if options.wait_for_completion {
        let limit = Duration::from_secs(
            u64::from(options.timeout_seconds)
                .min(s.config.server.request_timeout_seconds.saturating_sub(1)),
        );
        let job = s.engine.wait_finished(&job.id, limit).await?.unwrap_or(job);
        if job.state.is_finished() {
            let body = docket_api::BulkAnswer::Job(full_job(&s, &job).await?);
            let res = with_location(Json(body).into_response(), &job, options.return_job_id);
            return Ok(with_token(res, CommitSeq(job.last_commit)));
        }
        let res = (StatusCode::ACCEPTED, Json(crate::wire::job_status(&job))).into_response();
        return Ok(with_location(res, &job, options.return_job_id));
    }
    let accepted = BulkAccepted {
        job_id: options.return_job_id.then(|| job.id.clone()),
        queued: job.total,
        status: job.state.to_string(),
        status_url: options.return_job_id.then(|| status_url(&job)),
    };
    let res = Json(docket_api::BulkAnswer::Accepted(accepted)).into_response();
    Ok(with_token(
        with_location(res, &job, options.return_job_id),
        commit,
    ))
}

pub fn status_url(job: &Job) -> String {
    format!("/api/v1/jobs/{}/status", job.id)
}

fn with_location(mut res: Response, job: &Job, show: bool) -> Response {
    if show {
        if let Ok(v) = HeaderValue::from_str(&status_url(job)) {
            res.headers_mut().insert(header::LOCATION, v);
        }
    }
    res
}
