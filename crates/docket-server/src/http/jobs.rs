//! `/api/v1/jobs`: status (with long-poll), results, progress stream, list, cancel,
//! retry-failed, delete, callbacks.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use docket_api::{BulkAccepted, ItemResult, JobQuery, Page, ResultsQuery, StatusQuery, codes};
use futures_util::Stream;

use super::auth::Caller;
use super::bulk::status_url;
use super::cursor::{decode_cursor, encode_cursor};
use super::error::ApiError;
use super::extract::QueryParams;
use super::{AppState, with_token};
use crate::domain::{CaseId, ItemOutcome, Job, JobState, Timestamp, new_job_id};
use crate::store::{CommitSeq, JobChange};
use crate::wire;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/jobs", get(list))
        .route("/jobs/{jobId}", get(read).delete(delete))
        .route("/jobs/{jobId}/status", get(status))
        .route("/jobs/{jobId}/results", get(results))
        .route("/jobs/{jobId}/events", get(events))
        .route("/jobs/{jobId}/cancel", post(cancel))
        .route("/jobs/{jobId}/retry-failed", post(retry_failed))
        .route("/jobs/{jobId}/callbacks", get(callbacks))
        .route("/jobs/{jobId}/callbacks/redeliver", post(redeliver))
}

fn job_not_found(id: &str) -> ApiError {
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
            .is_none_or(|f| f.0.saturating_add(retention_ms) > Timestamp::now().0)
    })
}

async fn load(s: &AppState, id: &str) -> Result<Job, ApiError> {
    // Job ids have the alphabet and length of case ids: anything else names no job,
    // and is not worth a store lookup.
    if CaseId::parse(id).is_err() {
        return Err(job_not_found(id));
    }
    visible(s, s.store.get_job(id).await?).ok_or_else(|| job_not_found(id))
}

/// The status plus the first page of results.
pub async fn full_job(s: &AppState, job: &Job) -> Result<docket_api::Job, ApiError> {
    let limit = s.config.limits.default_page_size;
    let page = s
        .store
        .job_results(&job.id, None, None, limit)
        .await?
        .ok_or_else(|| job_not_found(&job.id))?;
    Ok(docket_api::Job {
        status: wire::job_status(job),
        results: page.items.into_iter().map(wire::item_result).collect(),
        results_next_cursor: encode_cursor(page.next),
    })
}

/// Adds `Retry-After` (a polling hint) while the job runs.
fn status_response(job: &Job, body: Response) -> Response {
    let mut res = body;
    if !job.state.is_finished() {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    res
}

async fn status(
    State(s): State<AppState>,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<StatusQuery>,
) -> Result<Response, ApiError> {
    let mut job = load(&s, &id).await?;
    if let Some(wait) = q.wait_seconds.filter(|w| *w > 0) {
        let wait = Duration::from_secs(u64::from(wait).min(s.engine.jobs.max_wait_seconds));
        job = visible(&s, s.engine.wait_finished(&id, wait).await?)
            .ok_or_else(|| job_not_found(&id))?;
    }
    Ok(status_response(
        &job,
        Json(wire::job_status(&job)).into_response(),
    ))
}

async fn read(State(s): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let job = load(&s, &id).await?;
    Ok(status_response(
        &job,
        Json(full_job(&s, &job).await?).into_response(),
    ))
}

async fn results(
    State(s): State<AppState>,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<ResultsQuery>,
) -> Result<Json<Page<ItemResult>>, ApiError> {
    load(&s, &id).await?;
    let outcome = q
        .outcome
        .as_deref()
        .map(|o| {
            o.parse::<ItemOutcome>()
                .map_err(|m| ApiError::query("outcome", m))
        })
        .transpose()?;
    let page = s
        .store
        .job_results(
            &id,
            outcome,
            decode_cursor(q.cursor.as_deref())?,
            s.page_size(q.limit)?,
        )
        .await?
        .ok_or_else(|| job_not_found(&id))?;
    Ok(Json(Page {
        items: page.items.into_iter().map(wire::item_result).collect(),
        next_cursor: encode_cursor(page.next),
    }))
}

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
        .store
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
/// end state (`completed`, `failed`, `cancelled`), then the stream ends.
async fn events(
    State(s): State<AppState>,
    Path(id): Path<String>,
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
                        match engine.store.get_job(&id).await {
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
                let data = serde_json::to_string(&wire::job_status(&job)).unwrap_or_default();
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

async fn cancel(State(s): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    load(&s, &id).await?;
    let job = match s.store.cancel_job(&id, Timestamp::now()).await? {
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
    if job.state.is_finished() {
        // A queued job ends here and now; a running one ends at its worker, which counts it.
        s.engine.metrics.job_ended(&job);
    }
    s.engine.wake();
    s.engine.hub.publish(&id);
    // A running job stops between chunks: wait briefly so the answer shows the end state.
    let job = if job.state.is_finished() {
        job
    } else {
        s.engine
            .wait_finished(&id, Duration::from_secs(5))
            .await?
            .unwrap_or(job)
    };
    Ok(status_response(
        &job,
        Json(wire::job_status(&job)).into_response(),
    ))
}

async fn retry_failed(
    State(s): State<AppState>,
    Path(id): Path<String>,
    caller: Caller,
) -> Result<Response, ApiError> {
    load(&s, &id).await?;
    let actor = caller.actor_name();
    match s
        .store
        .retry_failed(&id, &new_job_id(), &actor, Timestamp::now())
        .await?
    {
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
        JobChange::Done(job) => {
            s.engine.wake();
            let body = BulkAccepted {
                job_id: Some(job.id.clone()),
                queued: job.total,
                status: job.state.to_string(),
                status_url: Some(status_url(&job)),
            };
            let mut res = Json(body).into_response();
            if let Ok(v) = HeaderValue::from_str(&status_url(&job)) {
                res.headers_mut().insert(header::LOCATION, v);
            }
            Ok(res)
        }
    }
}

async fn delete(State(s): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    load(&s, &id).await?;
    match s.store.delete_job(&id).await? {
        JobChange::NotFound => Err(job_not_found(&id)),
        JobChange::WrongState(job) => Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::JOB_NOT_FINISHED,
            format!(
                "job {id} is {}; cancel it first or wait for it to end",
                job.state
            ),
        )),
        JobChange::Done(job) | JobChange::NothingToDo(job) => Ok(with_token(
            StatusCode::NO_CONTENT.into_response(),
            CommitSeq(job.last_commit),
        )),
    }
}

async fn callbacks(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Page<docket_api::CallbackDelivery>>, ApiError> {
    load(&s, &id).await?;
    let list = s
        .store
        .deliveries(&id)
        .await?
        .ok_or_else(|| job_not_found(&id))?;
    Ok(Json(Page {
        items: list.into_iter().map(wire::delivery).collect(),
        next_cursor: None,
    }))
}

async fn redeliver(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let job = load(&s, &id).await?;
    if !job.state.is_finished() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::JOB_NOT_FINISHED,
            format!("job {id} has not ended; its callback is not due yet"),
        ));
    }
    let view = s
        .store
        .redeliver(&id, Timestamp::now())
        .await
        .map_err(|e| match e {
            crate::store::Error::NotFound => ApiError::new(
                StatusCode::NOT_FOUND,
                codes::CALLBACK_NOT_FOUND,
                format!("job {id} has no callback"),
            ),
            e => e.into(),
        })?;
    s.engine.wake_callbacks();
    Ok((StatusCode::ACCEPTED, Json(wire::delivery(view))).into_response())
}
