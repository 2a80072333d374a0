//! `/api/v1/changes`: the change feed, every committed change in commit order, as pages
//! (long-polled with `waitSeconds`) or as Server-Sent Events resumable by
//! `Last-Event-ID`. The items are the bodies the writes recorded, passed through.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use docket_api::{CHANGE_TYPES, ChangePage, ChangeStreamQuery, ChangesQuery, Problem, codes};
use futures_util::Stream;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::ApiError;
use super::extract::QueryParams;
use crate::domain::feed::{After, with_position};
use crate::engine::feed::{ChangesRequest, FeedError, FeedPage};

/// Items per page when the request names no `limit`, and the most it may name.
const DEFAULT_LIMIT: u32 = 100;
pub(crate) const MAX_LIMIT: u32 = 1_000;
/// Items per read of an event stream.
const STREAM_BATCH: u32 = 500;

/// One event of the feed's stream (for the API description).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct ChangeEvent {
    /// The change's type (`case.updated`, ...).
    event: String,
    /// The change's position: send it back as `Last-Event-ID` to resume after it.
    id: String,
    /// The change (`Change`), as JSON.
    data: String,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(changes))
        .routes(routes!(stream))
}

/// A cursor: a position (`42`, or a consistency token `c42`), or `now`.
fn parse_after(field: &str, raw: Option<&str>) -> Result<After, ApiError> {
    // Absent or empty: from the oldest change kept.
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(After::Oldest);
    };
    if raw == "now" {
        return Ok(After::Now);
    }
    raw.strip_prefix('c')
        .unwrap_or(raw)
        .parse::<i64>()
        .ok()
        .filter(|p| *p >= 0)
        .map(After::Position)
        .ok_or_else(|| {
            ApiError::query(
                field,
                "must be a position from the feed (`nextAfter`, an item's `position`) or `now`",
            )
        })
}

/// `types=a,b`: each one of the change types.
fn parse_types(raw: Option<&str>) -> Result<Vec<&'static str>, ApiError> {
    let mut out = Vec::new();
    for t in raw.unwrap_or("").split(',').map(str::trim) {
        if t.is_empty() {
            continue;
        }
        let known = CHANGE_TYPES.iter().find(|k| **k == t).ok_or_else(|| {
            ApiError::query(
                "types",
                format!(
                    "'{t}' is not a change type; one of {}",
                    CHANGE_TYPES.join(", ")
                ),
            )
        })?;
        if !out.contains(known) {
            out.push(*known);
        }
    }
    Ok(out)
}

fn feed_error(field: &'static str) -> impl Fn(FeedError) -> ApiError {
    move |e| match e {
        FeedError::Expired { purged_through } => ApiError::new(
            StatusCode::GONE,
            codes::CURSOR_EXPIRED,
            format!(
                "changes up to position {purged_through} are no longer kept (Changes.Retention); \
                 start again without `after`, from the oldest change kept"
            ),
        ),
        FeedError::Ahead { head } => ApiError::query(
            field,
            format!(
                "is past the newest commit (position {head}): no change has that position; \
                 give a position from the feed (`nextAfter`, an item's `position`) or `now`"
            ),
        ),
        FeedError::Store(e) => e.into(),
    }
}

/// The page as JSON: the stored bodies, each with its position first.
fn page_json(page: &FeedPage) -> String {
    let mut out =
        String::with_capacity(32 + page.items.iter().map(|(_, b)| b.len() + 24).sum::<usize>());
    out.push_str("{\"items\":[");
    for (i, (position, body)) in page.items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&with_position(*position, body));
    }
    out.push_str(&format!("],\"nextAfter\":\"{}\"}}", page.next_after));
    out
}

/// Every committed change after `after`, in commit order: no change ever appears behind
/// a position a reader has passed. `waitSeconds` long-polls an empty page.
#[utoipa::path(
    get,
    path = "/api/v1/changes",
    operation_id = "listChanges",
    tag = "changes",
    params(ChangesQuery),
    responses(
        (status = 200, description = "A page of changes; `nextAfter` is the cursor for the next call.", body = ChangePage),
        (status = 400, description = "A bad `after`, `limit`, `types` or `caseId` (`invalid_query`).", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "`after` is older than the oldest change kept (`cursor_expired`).", body = Problem, content_type = "application/problem+json")
    )
)]
async fn changes(
    State(s): State<AppState>,
    QueryParams(q): QueryParams<ChangesQuery>,
) -> Result<Response, ApiError> {
    let limit = match q.limit {
        None => DEFAULT_LIMIT,
        Some(n) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(_) => {
            return Err(ApiError::query(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
    };
    let request = ChangesRequest {
        after: parse_after("after", q.after.as_deref())?,
        limit,
        kinds: parse_types(q.types.as_deref())?,
        case_id: q.case_id.filter(|c| !c.is_empty()),
    };
    // Capped by the long-poll limit, and answered before the request deadline.
    let cap = s
        .engine
        .jobs
        .max_wait_seconds
        .min(s.config.server.request_timeout_seconds.saturating_sub(1));
    let wait = Duration::from_secs(u64::from(q.wait_seconds.unwrap_or(0)).min(cap));
    let page = s
        .engine
        .changes(request, wait)
        .await
        .map_err(feed_error("after"))?;
    let mut res = page_json(&page).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(res)
}

/// The change's type, from its stored body (`{"type":"…",…`).
fn kind_of(body: &str) -> &str {
    body.strip_prefix("{\"type\":\"")
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("change")
}

/// The same changes as Server-Sent Events: `id` the position, `event` the type, `data`
/// the change. A reconnect with `Last-Event-ID` resumes right after that change.
#[utoipa::path(
    get,
    path = "/api/v1/changes/stream",
    operation_id = "streamChanges",
    tag = "changes",
    params(
        ChangeStreamQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this position.")
    ),
    responses(
        (status = 200, description = "The event stream; each event's data is a change.", content_type = "text/event-stream", body = ChangeEvent),
        (status = 400, description = "A bad `after`, `types` or `Last-Event-ID` (`invalid_query`).", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The cursor is older than the oldest change kept (`cursor_expired`).", body = Problem, content_type = "application/problem+json")
    )
)]
async fn stream(
    State(s): State<AppState>,
    headers: HeaderMap,
    QueryParams(q): QueryParams<ChangeStreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let last_id = headers
        .get("last-event-id")
        .map(|v| v.to_str().unwrap_or("?").to_owned());
    // `after` is checked even when the header wins.
    let from_query = parse_after("after", q.after.as_deref())?;
    let after = match last_id.as_deref() {
        Some(id) => parse_after("Last-Event-ID", Some(id))?,
        None => from_query,
    };
    let kinds = parse_types(q.types.as_deref())?;
    let case_id = q.case_id.filter(|c| !c.is_empty());
    let engine = s.engine.clone();
    // The first read answers 410 as an error status, before the stream starts.
    let start = engine.feed_start(after).await?;
    let request = move |after: i64| ChangesRequest {
        after: After::Position(after),
        limit: STREAM_BATCH,
        kinds: kinds.clone(),
        case_id: case_id.clone(),
    };
    let first = engine
        .changes(request(start), Duration::ZERO)
        .await
        .map_err(feed_error(if last_id.is_some() {
            "Last-Event-ID"
        } else {
            "after"
        }))?;
    let wait = Duration::from_secs(engine.jobs.max_wait_seconds.max(1));
    let items: VecDeque<(i64, String)> = first.items.into();
    let state = (engine, items, first.next_after, request);
    let stream = futures_util::stream::unfold(
        state,
        move |(engine, mut items, mut next, request)| async move {
            loop {
                if let Some((position, body)) = items.pop_front() {
                    let event = Event::default()
                        .id(position.to_string())
                        .event(kind_of(&body))
                        .data(with_position(position, &body));
                    return Some((Ok(event), (engine, items, next, request)));
                }
                // On shutdown the stream ends; the client reconnects with `Last-Event-ID`.
                if *engine.stopping().borrow() {
                    return None;
                }
                // Waits for the next commit. A store error or an expired cursor ends the
                // stream too (the reconnect then gets the error as a status).
                let page = engine.changes(request(next), wait).await.ok()?;
                next = page.next_after;
                items.extend(page.items);
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
