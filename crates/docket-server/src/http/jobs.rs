//! `/api/v1/jobs`: status (with long-poll), the job with its first results, results,
//! the progress stream, the list. Actions on a job are in `job_control.rs`.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use docket_api::{ItemResult, JobQuery, Page, Problem, ResultsQuery, StatusQuery, codes};
use futures_util::Stream;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::cursor::{decode_cursor, encode_cursor};
use super::error::ApiError;
use super::extract::{PathParam, QueryParams};
use super::results_export::Export;
use crate::domain::{CaseId, ItemOutcome, Job, JobState};
use crate::wire;

/// One event of a job's stream (for the API description).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct JobEvent {
    /// `progress`, then one of `completed`, `failed`, `cancelled` (the last event).
    event: String,
    /// The job's processed count at this event.
    id: String,
    /// The job's status (`JobStatus`), as JSON.
    data: String,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(read))
        .routes(routes!(status))
        .routes(routes!(results))
        .routes(routes!(events))
}

pub(super) fn job_not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        codes::JOB_NOT_FOUND,
        format!(
            "job {} does not exist (or has passed its retention)",
            super::error::shown(id)
        ),
    )
}

/// A finished job past `Jobs.Retention` is gone even before the sweeper removes it.
fn visible(s: &AppState, job: Option<Job>) -> Option<Job> {
    let retention_ms =
        i64::try_from(s.engine.settings.get().retention.saturating_mul(1000)).unwrap_or(i64::MAX);
    job.filter(|j| {
        j.finished_at
            .is_none_or(|f| f.0.saturating_add(retention_ms) > s.engine.now().0)
    })
}

pub(super) async fn load(s: &AppState, id: &str) -> Result<Job, ApiError> {
    // Job ids have the alphabet and length of case ids: anything else names no job,
    // and is not worth a store lookup.
    if CaseId::parse(id).is_err() {
        return Err(job_not_found(id));
    }
    visible(s, s.engine.get_job(id).await?).ok_or_else(|| job_not_found(id))
}

/// The status plus the first page of results.
pub async fn full_job(s: &AppState, job: &Job) -> Result<docket_api::Job, ApiError> {
    let limit = s.config.limits.default_page_size;
    let page = s
        .engine
        .job_results(&job.id, None, None, limit)
        .await?
        .ok_or_else(|| job_not_found(&job.id))?;
    Ok(docket_api::Job {
        status: wire::job_status_here(job, s.engine.stall()),
        results: page.items.into_iter().map(wire::item_result).collect(),
        results_next_cursor: encode_cursor(page.next),
    })
}

/// Adds `Retry-After` (a polling hint) while the job runs.
pub(super) fn status_response(job: &Job, body: Response) -> Response {
    let mut res = body;
    if !job.state.is_finished() {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    res
}

/// A job's status; `?waitSeconds=N` long-polls until it ends or N seconds pass (N at
/// most `jobs.max_wait_seconds`, 400 above). While it runs, `Retry-After` is a polling hint.
#[utoipa::path(
    get,
    path = "/api/v1/jobs/{jobId}/status",
    operation_id = "getJobStatus",
    tag = "jobs",
    params(("jobId" = String, Path, description = "The job's id."), StatusQuery),
    responses(
        (status = 200, description = "The job's status.", body = docket_api::JobStatus, headers(("Retry-After" = u64, description = "While the job runs."))),
        (status = 404, description = "No such job, or past its retention (`job_not_found`).", body = Problem, content_type = "application/problem+json")
    )
)]
async fn status(
    State(s): State<AppState>,
    PathParam(id): PathParam<String>,
    QueryParams(q): QueryParams<StatusQuery>,
) -> Result<Response, ApiError> {
    let max_wait = s.engine.jobs.max_wait_seconds;
    if q.wait_seconds.is_some_and(|w| u64::from(w) > max_wait) {
        return Err(ApiError::query(
            "waitSeconds",
            format!("must be between 0 and {max_wait} (jobs.max_wait_seconds)"),
        ));
    }
    let mut job = load(&s, &id).await?;
    if let Some(wait) = q.wait_seconds.filter(|w| *w > 0) {
        let wait = Duration::from_secs(u64::from(wait));
        job = visible(&s, s.engine.wait_finished(&id, wait).await?)
            .ok_or_else(|| job_not_found(&id))?;
    }
    Ok(status_response(
        &job,
        Json(wire::job_status_here(&job, s.engine.stall())).into_response(),
    ))
}

/// A job's status and the first page of its results.
#[utoipa::path(
    get,
    path = "/api/v1/jobs/{jobId}",
    operation_id = "getJob",
    tag = "jobs",
    params(("jobId" = String, Path, description = "The job's id.")),
    responses(
        (status = 200, description = "The job.", body = docket_api::Job),
        (status = 404, description = "No such job, or past its retention (`job_not_found`).", body = Problem, content_type = "application/problem+json")
    )
)]
async fn read(
    State(s): State<AppState>,
    PathParam(id): PathParam<String>,
) -> Result<Response, ApiError> {
    let job = load(&s, &id).await?;
    Ok(status_response(
        &job,
        Json(full_job(&s, &job).await?).into_response(),
    ))
}

/// Per-item outcomes in request order (`index` is the item's position), optionally
/// only those of one outcome. With `Accept: text/csv` (columns
/// `index,caseId,outcome,code,detail,version`) or `application/x-ndjson`, every result
/// is streamed in index order, without paging (`limit` is ignored; a `cursor` starts
/// after it).
#[utoipa::path(
    get,
    path = "/api/v1/jobs/{jobId}/results",
    operation_id = "getJobResults",
    tag = "jobs",
    params(("jobId" = String, Path, description = "The job's id."), ResultsQuery),
    responses(
        (status = 200, description = "A page of item results, or (by `Accept`) all of them as CSV or NDJSON.",
            content((Page<ItemResult> = "application/json"), (String = "text/csv"), (String = "application/x-ndjson"))),
        (status = 404, description = "No such job, or past its retention (`job_not_found`).", body = Problem, content_type = "application/problem+json")
    )
)]
async fn results(
    State(s): State<AppState>,
    PathParam(id): PathParam<String>,
    headers: axum::http::HeaderMap,
    QueryParams(q): QueryParams<ResultsQuery>,
) -> Result<Response, ApiError> {
    load(&s, &id).await?;
    let outcome = q
        .outcome
        .as_deref()
        .map(|o| {
            o.parse::<ItemOutcome>()
                .map_err(|m| ApiError::query("outcome", m))
        })
        .transpose()?;
    let after = decode_cursor(q.cursor.as_deref())?;
    if let Some(format) = Export::wanted(&headers) {
        return Ok(super::results_export::stream(s, id, outcome, after, format));
    }
    let page = s
        .engine
        .job_results(&id, outcome, after, s.page_size(q.limit)?)
        .await?
        .ok_or_else(|| job_not_found(&id))?;
    Ok(Json(Page {
        items: page.items.into_iter().map(wire::item_result).collect(),
        next_cursor: encode_cursor(page.next),
    })
    .into_response())
}

/// Jobs, newest first, optionally of one state.
#[utoipa::path(
    get,
    path = "/api/v1/jobs",
    operation_id = "listJobs",
    tag = "jobs",
    params(JobQuery),
    responses((status = 200, description = "A page of job statuses.", body = Page<docket_api::JobStatus>))
)]
async fn list(
    State(s): State<AppState>,
    QueryParams(q): QueryParams<JobQuery>,
) -> Result<Json<Page<docket_api::JobStatus>>, ApiError> {
    let state = q
        .status
        .as_deref()
        .map(|st| {
            st.parse::<JobState>()
                .map_err(|m| ApiError::query("status", m))
        })
        .transpose()?;
    let page = s
        .engine
        .list_jobs(
            state,
            decode_cursor(q.cursor.as_deref())?,
            s.page_size(q.limit)?,
        )
        .await?;
    let items = page
        .items
        .into_iter()
        .filter_map(|j| visible(&s, Some(j)))
        .map(|j| wire::job_status(&j))
        .collect();
    Ok(Json(Page {
        items,
        next_cursor: encode_cursor(page.next),
    }))
}

/// Server-Sent Events: a `progress` event per change, then one event named after the
/// end state (`completed`, `failed`, `cancelled`), then the stream ends. Each event's
/// data is the job's status.
#[utoipa::path(
    get,
    path = "/api/v1/jobs/{jobId}/events",
    operation_id = "getJobEvents",
    tag = "jobs",
    params(("jobId" = String, Path, description = "The job's id.")),
    responses(
        (status = 200, description = "The event stream.", content_type = "text/event-stream", body = JobEvent),
        (status = 404, description = "No such job, or past its retention (`job_not_found`).", body = Problem, content_type = "application/problem+json")
    )
)]
async fn events(
    State(s): State<AppState>,
    PathParam(id): PathParam<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let engine = s.engine.clone();
    let changes = engine.hub.subscribe(&id);
    let first = load(&s, &id).await?;
    let poll = Duration::from_millis(engine.jobs.poll_interval_ms);
    let state = (
        engine,
        id,
        changes,
        Some(first),
        None::<(u64, JobState)>,
        false,
    );
    let stream = futures_util::stream::unfold(
        state,
        move |(engine, id, mut changes, mut first, mut last, done)| async move {
            if done {
                return None;
            }
            loop {
                let job = match first.take() {
                    Some(j) => j,
                    None => {
                        // On shutdown the stream ends; the client reconnects elsewhere.
                        let mut stopping = engine.stopping();
                        if *stopping.borrow_and_update() {
                            return None;
                        }
                        tokio::select! {
                            r = changes.changed() => if r.is_err() { changes = engine.hub.subscribe(&id); },
                            () = tokio::time::sleep(poll) => {}
                            _ = stopping.changed() => return None,
                        }
                        // Shared with every other watcher of this job on this node.
                        match engine.watched_job(&id).await {
                            Ok(Some(j)) => j,
                            Ok(None) => return None,
                            Err(_) => continue,
                        }
                    }
                };
                if last == Some((job.processed, job.state)) {
                    continue;
                }
                last = Some((job.processed, job.state));
                let data = serde_json::to_string(&wire::job_status_here(&job, engine.stall()))
                    .unwrap_or_default();
                let finished = job.state.is_finished();
                let name = if finished {
                    job.state.as_str()
                } else {
                    "progress"
                };
                let event = Event::default()
                    .event(name)
                    .id(job.processed.to_string())
                    .data(data);
                return Some((Ok(event), (engine, id, changes, first, last, finished)));
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
