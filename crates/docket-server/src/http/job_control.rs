//! `/api/v1/jobs/{jobId}` actions: cancel, retry-failed, revert, delete, and the
//! callback's deliveries (list, redeliver).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use docket_api::{BulkAccepted, Page, Problem, codes};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Caller;
use super::bulk_submit::status_url;
use super::error::ApiError;
use super::extract::PathParam;
use super::jobs::{job_not_found, load, status_response};
use super::{AppState, with_token};
use crate::domain::{CommitSeq, JobChange};
use crate::engine::Committed;
use crate::wire;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(cancel))
        .routes(routes!(retry_failed))
        .routes(routes!(revert))
        .routes(routes!(delete))
        .routes(routes!(callbacks))
        .routes(routes!(redeliver))
}

/// Cancel a job: a queued job ends at once; a running one stops between chunks (its
/// applied items stay applied, the rest end `cancelled`).
#[utoipa::path(
    post,
    path = "/api/v1/jobs/{jobId}/cancel",
    operation_id = "cancelJob",
    tag = "jobs",
    params(("jobId" = String, Path, description = "The job's id.")),
    responses(
        (status = 200, description = "The job's status (its end state if it stopped within 5 s).", body = docket_api::JobStatus,
            headers(("X-Consistency-Token" = String))),
        (status = 404, description = "No such job, or past its retention (`job_not_found`).", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job has already ended (`job_finished`).", body = Problem, content_type = "application/problem+json")
    )
)]
async fn cancel(
    State(s): State<AppState>,
    PathParam(id): PathParam<String>,
) -> Result<Response, ApiError> {
    load(&s, &id).await?;
    let Committed { value, commit, .. } = s.engine.cancel_job(&id).await?;
    let job = match value {
        JobChange::NotFound => return Err(job_not_found(&id)),
        JobChange::WrongState(job) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                codes::JOB_FINISHED,
                format!("job {id} already ended as {}", job.state),
            ));
        }
        JobChange::Done(job) | JobChange::NothingToDo(job) => job,
    };
    // A running job stops between chunks: wait briefly so the answer shows the end state.
    let job = if job.state.is_finished() {
        job
    } else {
        s.engine
            .wait_finished(&id, Duration::from_secs(5))
            .await?
            .unwrap_or(job)
    };
    // A job that ended meanwhile answers with its own (later) token.
    let at = commit.max(CommitSeq(job.last_commit));
    Ok(with_token(
        status_response(&job, Json(wire::job_status(&job)).into_response()),
        at,
    ))
}

/// A new job with the failed items of an ended job (`parentJobId` set).
#[utoipa::path(
    post,
    path = "/api/v1/jobs/{jobId}/retry-failed",
    operation_id = "retryFailedItems",
    tag = "jobs",
    params(("jobId" = String, Path, description = "The job's id.")),
    responses(
        (status = 200, description = "The new job is stored.", body = BulkAccepted, headers(("Location" = String), ("X-Consistency-Token" = String))),
        (status = 404, description = "No such job, or past its retention (`job_not_found`).", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job has not ended (`job_not_finished`).", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The job has no failed items (`no_failed_items`).", body = Problem, content_type = "application/problem+json")
    )
)]
async fn retry_failed(
    State(s): State<AppState>,
    PathParam(id): PathParam<String>,
    caller: Caller,
) -> Result<Response, ApiError> {
    load(&s, &id).await?;
    let actor = caller.actor_name();
    let Committed { value, commit, .. } = s.engine.retry_failed(&id, &actor).await?;
    match value {
        JobChange::NotFound => Err(job_not_found(&id)),
        JobChange::WrongState(job) => Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::JOB_NOT_FINISHED,
            format!(
                "job {id} is {}; retry its failed items once it ends",
                job.state
            ),
        )),
        JobChange::NothingToDo(_) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::NO_FAILED_ITEMS,
            format!("job {id} has no failed items"),
        )),
        JobChange::Done(job) => Ok(accepted(&job, commit)),
    }
}

/// The `200` of a job made from another (a retry, a revert): the bulk update's
/// `accepted` answer, with `Location`.
fn accepted(job: &crate::domain::Job, commit: CommitSeq) -> Response {
    let body = BulkAccepted {
        job_id: Some(job.id.clone()),
        queued: job.total,
        status: job.state.to_string(),
        status_url: Some(status_url(job)),
    };
    let mut res = Json(docket_api::BulkAnswer::Accepted(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&status_url(job)) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    with_token(res, commit)
}

/// A new job (`revertOf` set) that sets every field a finished job changed back to its
/// value before the job, on each case the job changed, expecting the version the job
/// left: a case changed since fails `version_conflict`, a deleted one
/// `case_not_found`. The workflow's transitions do not bind it (it restores a status
/// the case had); tasks a cascade closed stay closed.
#[utoipa::path(
    post,
    path = "/api/v1/jobs/{jobId}/revert",
    operation_id = "revertJob",
    tag = "jobs",
    params(("jobId" = String, Path, description = "The job's id.")),
    responses(
        (status = 200, description = "The revert job is stored.", body = BulkAccepted, headers(("Location" = String), ("X-Consistency-Token" = String))),
        (status = 404, description = "No such job, or past its retention (`job_not_found`).", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job has not ended (`job_not_finished`).", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The job is a dry run, which changed nothing, or a bulk delete (`validation_failed`).", body = Problem, content_type = "application/problem+json")
    )
)]
async fn revert(
    State(s): State<AppState>,
    PathParam(id): PathParam<String>,
    caller: Caller,
) -> Result<Response, ApiError> {
    load(&s, &id).await?;
    let actor = caller.actor_name();
    let Committed { value, commit, .. } = s.engine.revert_job(&id, &actor).await?;
    match value {
        JobChange::NotFound => Err(job_not_found(&id)),
        JobChange::WrongState(job) => Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::JOB_NOT_FINISHED,
            format!("job {id} is {}; revert it once it ends", job.state),
        )),
        JobChange::NothingToDo(job) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::VALIDATION_FAILED,
            if job.dry_run {
                format!("job {id} is a dry run: it changed nothing to revert")
            } else {
                format!("job {id} is a bulk delete: deleted cases cannot be restored")
            },
        )),
        JobChange::Done(job) => Ok(accepted(&job, commit)),
    }
}

/// Forget an ended job, its results and its callback.
#[utoipa::path(
    delete,
    path = "/api/v1/jobs/{jobId}",
    operation_id = "deleteJob",
    tag = "jobs",
    params(("jobId" = String, Path, description = "The job's id.")),
    responses(
        (status = 204, description = "Forgotten.", headers(("X-Consistency-Token" = String))),
        (status = 404, description = "No such job, or past its retention (`job_not_found`).", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job has not ended (`job_not_finished`).", body = Problem, content_type = "application/problem+json")
    )
)]
async fn delete(
    State(s): State<AppState>,
    PathParam(id): PathParam<String>,
) -> Result<Response, ApiError> {
    load(&s, &id).await?;
    let Committed { value, commit, .. } = s.engine.delete_job(&id).await?;
    match value {
        JobChange::NotFound => Err(job_not_found(&id)),
        JobChange::WrongState(job) => Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::JOB_NOT_FINISHED,
            format!(
                "job {id} is {}; cancel it first or wait for it to end",
                job.state
            ),
        )),
        JobChange::Done(_) | JobChange::NothingToDo(_) => {
            Ok(with_token(StatusCode::NO_CONTENT.into_response(), commit))
        }
    }
}

/// The job's callback delivery and every attempt at it.
#[utoipa::path(
    get,
    path = "/api/v1/jobs/{jobId}/callbacks",
    operation_id = "listCallbackDeliveries",
    tag = "jobs",
    params(("jobId" = String, Path, description = "The job's id.")),
    responses(
        (status = 200, description = "The deliveries (none without a `callbackUrl`).", body = Page<docket_api::CallbackDelivery>),
        (status = 404, description = "No such job, or past its retention (`job_not_found`).", body = Problem, content_type = "application/problem+json")
    )
)]
async fn callbacks(
    State(s): State<AppState>,
    PathParam(id): PathParam<String>,
) -> Result<Json<Page<docket_api::CallbackDelivery>>, ApiError> {
    load(&s, &id).await?;
    let list = s
        .engine
        .deliveries(&id)
        .await?
        .ok_or_else(|| job_not_found(&id))?;
    Ok(Json(Page {
        items: list.into_iter().map(wire::delivery).collect(),
        next_cursor: None,
    }))
}

/// Send an ended job's callback again.
#[utoipa::path(
    post,
    path = "/api/v1/jobs/{jobId}/callbacks/redeliver",
    operation_id = "redeliverCallback",
    tag = "jobs",
    params(("jobId" = String, Path, description = "The job's id.")),
    responses(
        (status = 202, description = "Scheduled now.", body = docket_api::CallbackDelivery, headers(("X-Consistency-Token" = String))),
        (status = 404, description = "No such job (`job_not_found`), or it has no callback (`callback_not_found`).", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job has not ended (`job_not_finished`).", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Redelivered less than a second ago (`rate_limited`); see `Retry-After`.", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64)))
    )
)]
async fn redeliver(
    State(s): State<AppState>,
    PathParam(id): PathParam<String>,
) -> Result<Response, ApiError> {
    let job = load(&s, &id).await?;
    if !job.state.is_finished() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::JOB_NOT_FINISHED,
            format!("job {id} has not ended; its callback is not due yet"),
        ));
    }
    // Each redelivery is a request docket makes on the caller's behalf: without a limit
    // a caller could make it hammer the receiver.
    if let Err(wait) = s.engine.redeliver_permit(&id) {
        return Err(ApiError {
            retry_after: Some(wait.as_secs_f64().ceil().max(1.0) as u64),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                codes::RATE_LIMITED,
                format!("job {id}'s callback was redelivered less than a second ago"),
            )
        });
    }
    let view = s.engine.redeliver(&id).await.map_err(|e| match e {
        crate::error::Error::NotFound => ApiError::new(
            StatusCode::NOT_FOUND,
            codes::CALLBACK_NOT_FOUND,
            format!("job {id} has no callback"),
        ),
        e => e.into(),
    })?;
    let res = (StatusCode::ACCEPTED, Json(wire::delivery(view.value))).into_response();
    Ok(super::with_token(res, view.commit))
}
