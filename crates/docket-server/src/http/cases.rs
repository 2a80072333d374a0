//! `/api/v1/cases`: create, list, read, synchronous update, history.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use docket_api::{CaseQuery, Page, PageQuery, Problem, codes};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Caller;
use super::cursor::{decode_case_cursor, decode_cursor, encode_case_cursor, encode_cursor};
use super::error::ApiError;
use super::extract::{JsonBody, PathParam, QueryParams};
use super::{AppState, with_token};
use crate::domain::{
    CaseChange, CaseId, MAX_ASSIGNEE, MAX_TAG, MAX_TITLE_SEARCH, MIN_TITLE_SEARCH, NewCase,
    Timestamp,
};
use crate::domain::{CaseFilter, CaseSort, CommitSeq};
use crate::engine::Committed;
use crate::error::Error;
use crate::wire as dto;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, delete))
        .routes(routes!(history))
}

/// A path id that cannot be a case id names no case.
pub fn path_case_id(raw: &str) -> Result<CaseId, ApiError> {
    CaseId::parse(raw).map_err(|_| ApiError::case_not_found(raw))
}

pub(super) fn etag(version: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

fn case_response(status: StatusCode, case: crate::domain::Case) -> Response {
    let tag = etag(case.version);
    let mut res = (status, Json(dto::case(case))).into_response();
    res.headers_mut().insert(header::ETAG, tag);
    res
}

/// Create a case.
///
/// Only `title` is required; `caseId` is generated (`CASE-000001`, increasing) when
/// absent. `status` defaults to the workflow's initial status and may be any
/// non-terminal one (for imports).
#[utoipa::path(
    post,
    path = "/api/v1/cases",
    operation_id = "createCase",
    tag = "cases",
    request_body(content = docket_api::NewCase, content_type = "application/json"),
    responses(
        (status = 201, description = "Created; `Location` names it, `ETag` is its version.", body = docket_api::Case,
            headers(("Location" = String), ("ETag" = String), ("X-Consistency-Token" = String))),
        (status = 409, description = "The `caseId` is taken (`case_exists`), or the `externalId` is another case's (`external_id_taken`).", body = Problem, content_type = "application/problem+json")
    )
)]
async fn create(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<docket_api::NewCase>,
) -> Result<Response, ApiError> {
    let new = NewCase::parse(body, &s.workflow).map_err(ApiError::validation)?;
    let Committed {
        value: case,
        commit,
        ..
    } = s
        .engine
        .create_case(new, caller.actor(s.engine.now()))
        .await
        .map_err(|e| match e {
            Error::Conflict(d) => ApiError::new(StatusCode::CONFLICT, codes::CASE_EXISTS, d),
            e => e.into(),
        })?;
    let location = format!("/api/v1/cases/{}", case.id);
    let mut res = case_response(StatusCode::CREATED, case);
    if let Ok(v) = HeaderValue::from_str(&location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(with_token(res, commit))
}

/// List cases, with filters, in a chosen order, with cursor paging.
///
/// Filters combine (every one given must hold) and work with every `sort`. `q` finds
/// cases whose title contains the text, ignoring case. Paging is by keyset: pass
/// `nextCursor` back unchanged, with the same `sort`, to continue; a cursor from
/// another `sort` is 400 `invalid_cursor`. In the `updatedAt` orders a case changed
/// while you page moves to its new place, so it may show twice or not at all.
#[utoipa::path(
    get,
    path = "/api/v1/cases",
    operation_id = "listCases",
    tag = "cases",
    params(CaseQuery),
    responses((status = 200, description = "A page of cases; `nextCursor` continues it.", body = Page<docket_api::Case>))
)]
async fn list(
    State(s): State<AppState>,
    QueryParams(q): QueryParams<CaseQuery>,
) -> Result<Json<Page<docket_api::Case>>, ApiError> {
    let filter = case_filter(&s, q)?;
    let sort = filter.sort;
    let page = s.engine.list_cases(filter).await?;
    Ok(Json(Page {
        items: page.items.into_iter().map(dto::case).collect(),
        next_cursor: page.next.map(|p| encode_case_cursor(sort, p)),
    }))
}

/// Parses a listing's query; 400 `invalid_query` naming the parameter, or
/// `invalid_cursor`.
pub(super) fn case_filter(s: &AppState, q: CaseQuery) -> Result<CaseFilter, ApiError> {
    let status = q
        .status
        .as_deref()
        .map(|st| {
            s.workflow
                .parse(st)
                .map_err(|m| ApiError::query("status", m))
        })
        .transpose()?;
    let time = |name: &str, v: Option<&str>| {
        v.map(|t| Timestamp::parse(t).map_err(|m| ApiError::query(name, m)))
            .transpose()
    };
    let updated_since = time("updatedSince", q.updated_since.as_deref())?;
    let updated_before = time("updatedBefore", q.updated_before.as_deref())?;
    let too_long = |name: &str, v: &Option<String>, max: usize| match v {
        Some(v) if v.chars().count() > max => Err(ApiError::query(
            name,
            format!("must be at most {max} characters"),
        )),
        _ => Ok(()),
    };
    // A NUL (or another control character) in q, assignee or tag never gets here:
    // `QueryParams` refuses it for every route.
    too_long("assignee", &q.assignee, MAX_ASSIGNEE)?;
    too_long("tag", &q.tag, MAX_TAG)?;
    too_long("q", &q.q, MAX_TITLE_SEARCH)?;
    if let Some(t) = q.q.as_deref().filter(|t| !t.is_empty()) {
        if t.chars().count() < MIN_TITLE_SEARCH {
            return Err(ApiError::query(
                "q",
                format!("must be at least {MIN_TITLE_SEARCH} characters (or empty)"),
            ));
        }
    }
    let sort = q.sort.map(CaseSort::from).unwrap_or_default();
    Ok(CaseFilter {
        status,
        assignee: q.assignee,
        tag: q.tag,
        updated_since,
        updated_before,
        external_id: q.external_id,
        title_contains: q.q.filter(|t| !t.is_empty()),
        sort,
        after: decode_case_cursor(q.cursor.as_deref(), sort)?,
        limit: s.page_size(q.limit)?,
    })
}

/// `X-Consistency-Token`, when the request carries one.
pub fn consistency_token(headers: &HeaderMap) -> Result<Option<CommitSeq>, ApiError> {
    let Some(v) = headers.get(docket_api::CONSISTENCY_TOKEN_HEADER) else {
        return Ok(None);
    };
    v.to_str()
        .ok()
        .and_then(CommitSeq::parse_token)
        .map(Some)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                codes::INVALID_CONSISTENCY_TOKEN,
                "X-Consistency-Token is not a token this service issued",
            )
        })
}

/// Read one case.
///
/// With `X-Consistency-Token` (from a write, or a finished job's `consistencyToken`) the
/// answer reflects every write up to that token, whatever the cache settings.
#[utoipa::path(
    get,
    path = "/api/v1/cases/{caseId}",
    operation_id = "getCase",
    tag = "cases",
    params(
        ("caseId" = String, Path, description = "The case's id.", example = "CASE-000001"),
        ("X-Consistency-Token" = Option<String>, Header, description = "Read at least this fresh."),
        ("If-None-Match" = Option<String>, Header, description = "An `ETag` read before: 304 while it is still the case's version.")
    ),
    responses(
        (status = 200, description = "The case; `ETag` is its version.", body = docket_api::Case, headers(("ETag" = String))),
        (status = 304, description = "`If-None-Match` names the current version: the copy the client has is current.", headers(("ETag" = String))),
        (status = 400, description = "Not a token this service issued (`invalid_consistency_token`).", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case (`case_not_found`).", body = Problem, content_type = "application/problem+json")
    )
)]
async fn read(
    State(s): State<AppState>,
    PathParam(raw): PathParam<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = path_case_id(&raw)?;
    let token = consistency_token(&headers)?;
    if token.is_some() {
        s.engine.metrics.token_reads.inc();
    }
    match s.engine.read_case(&id, token).await? {
        Some(case) if none_match(&headers, case.version) => {
            let mut res = StatusCode::NOT_MODIFIED.into_response();
            res.headers_mut().insert(header::ETAG, etag(case.version));
            Ok(res)
        }
        Some(case) => Ok(case_response(StatusCode::OK, case)),
        None => Err(ApiError::case_not_found(&raw)),
    }
}

/// Whether `If-None-Match` names the case's current version (`"3"`, `W/"3"`, a list of
/// them, or `*`): the client's copy is current, so the answer is 304 without a body.
fn none_match(headers: &HeaderMap, version: u64) -> bool {
    let Some(v) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    v.split(',').map(str::trim).any(|tag| {
        tag == "*" || tag.trim_start_matches("W/").trim_matches('"').parse() == Ok(version)
    })
}

/// Parses `If-Match`: `"3"`, `W/"3"`, `3`, or `*` (any version).
pub(super) fn if_match(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let v = v.to_str().unwrap_or_default().trim();
    if v == "*" {
        return Ok(None);
    }
    v.trim_start_matches("W/")
        .trim_matches('"')
        .parse()
        .map(Some)
        .map_err(|_| {
            ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                codes::VERSION_CONFLICT,
                format!("If-Match '{v}' names no version"),
            )
        })
}

/// Change a case synchronously.
///
/// Absent fields stay as they are; `null` clears `statusReason` and `assignee`; `tags`
/// replaces the list; `fields` merges key by key (`null` removes a key). `If-Match`
/// (or `expectedVersion`) makes the change conditional.
#[utoipa::path(
    patch,
    path = "/api/v1/cases/{caseId}",
    operation_id = "updateCase",
    tag = "cases",
    params(
        ("caseId" = String, Path, description = "The case's id.", example = "CASE-000001"),
        ("If-Match" = Option<String>, Header, description = "The version the change is for: `\"3\"`.")
    ),
    request_body(content = docket_api::CasePatch, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated case.", body = docket_api::Case,
            headers(("ETag" = String), ("X-Consistency-Token" = String))),
        (status = 404, description = "No such case (`case_not_found`).", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The `externalId` is another case's (`external_id_taken`).", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` or `expectedVersion` names an old version (`version_conflict`).", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad value (`validation_failed`) or a move the workflow forbids (`invalid_transition`).", body = Problem, content_type = "application/problem+json")
    )
)]
async fn update(
    State(s): State<AppState>,
    PathParam(raw): PathParam<String>,
    headers: HeaderMap,
    caller: Caller,
    JsonBody(body): JsonBody<docket_api::CasePatch>,
) -> Result<Response, ApiError> {
    let id = path_case_id(&raw)?;
    // A change that could not apply anyway is refused as such, whatever its `If-Match`
    // (RFC 9110 13.2.1: preconditions are for requests that would otherwise succeed).
    let mut change = CaseChange::parse(body, &s.workflow).map_err(ApiError::validation)?;
    let expected = if_match(&headers)?;
    if let Some(v) = expected {
        if change.expected_version.is_some_and(|b| b != v) {
            return Err(ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                codes::VERSION_CONFLICT,
                "If-Match and expectedVersion disagree",
            ));
        }
        change.expected_version = Some(v);
    }
    let updated = s
        .engine
        .update_case(&id, change, caller.actor(s.engine.now()))
        .await??;
    Ok(with_token(
        case_response(StatusCode::OK, updated.value.applied.case),
        updated.commit,
    ))
}

/// Delete a case with its tasks, comments and history. The feed records `case.deleted`; every
/// node's cache drops the case; later reads are 404.
#[utoipa::path(
    delete,
    path = "/api/v1/cases/{caseId}",
    operation_id = "deleteCase",
    tag = "cases",
    params(
        ("caseId" = String, Path, description = "The case's id.", example = "CASE-000001"),
        ("If-Match" = Option<String>, Header, description = "Delete only this version: `\"3\"`.")
    ),
    responses(
        (status = 204, description = "Deleted.", headers(("X-Consistency-Token" = String))),
        (status = 404, description = "No such case (`case_not_found`).", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` names another version (`version_conflict`).", body = Problem, content_type = "application/problem+json")
    )
)]
async fn delete(
    State(s): State<AppState>,
    PathParam(raw): PathParam<String>,
    headers: HeaderMap,
    caller: Caller,
) -> Result<Response, ApiError> {
    let id = path_case_id(&raw)?;
    let expected = if_match(&headers)?;
    let deleted = s
        .engine
        .delete_case(&id, expected, caller.actor(s.engine.now()))
        .await??;
    Ok(with_token(
        StatusCode::NO_CONTENT.into_response(),
        deleted.commit,
    ))
}

/// A case's change log, newest first: one entry per changed field.
#[utoipa::path(
    get,
    path = "/api/v1/cases/{caseId}/history",
    operation_id = "getCaseHistory",
    tag = "cases",
    params(("caseId" = String, Path, description = "The case's id.", example = "CASE-000001"), PageQuery),
    responses(
        (status = 200, description = "A page of the change log.", body = Page<docket_api::HistoryEntry>),
        (status = 404, description = "No such case (`case_not_found`).", body = Problem, content_type = "application/problem+json")
    )
)]
async fn history(
    State(s): State<AppState>,
    PathParam(raw): PathParam<String>,
    QueryParams(q): QueryParams<PageQuery>,
) -> Result<Json<Page<docket_api::HistoryEntry>>, ApiError> {
    let id = path_case_id(&raw)?;
    let limit = s.page_size(q.limit)?;
    let page = s
        .engine
        .history(&id, decode_cursor(q.cursor.as_deref())?, limit)
        .await?
        .ok_or_else(|| ApiError::case_not_found(&raw))?;
    Ok(Json(Page {
        items: page.items.into_iter().map(dto::history).collect(),
        next_cursor: encode_cursor(page.next),
    }))
}
