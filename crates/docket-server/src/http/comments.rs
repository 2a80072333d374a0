//! `/api/v1/cases/{caseId}/comments`: comments and internal notes on a case.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use docket_api::{CommentQuery, Page, Problem, codes};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Caller;
use super::cases::{etag, if_match, path_case_id};
use super::cursor::{decode_cursor, encode_cursor};
use super::error::ApiError;
use super::extract::{JsonBody, PathParam, QueryParams};
use super::{AppState, with_token};
use crate::domain::{CommentChange, CommentKey, ItemError, NewComment, TaskId, Visibility};
use crate::engine::Committed;
use crate::wire as dto;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update, delete))
}

/// A comment answer: the comment, its `ETag` (its version) and the write's token.
fn answer(
    status: StatusCode,
    c: crate::domain::Comment,
    commit: crate::domain::CommitSeq,
) -> Response {
    let version = c.version;
    with_token(
        with_etag((status, Json(dto::comment(c))).into_response(), version),
        commit,
    )
}

/// The comment's version as the answer's `ETag`.
fn with_etag(mut res: Response, version: u64) -> Response {
    res.headers_mut().insert(header::ETAG, etag(version));
    res
}

fn not_found(case: &str, comment: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        codes::COMMENT_NOT_FOUND,
        format!("case {case} has no comment {comment}"),
    )
}

/// The comment's address from the path: 404 for an id no comment can have.
fn comment_key(raw: &str, raw_comment: &str) -> Result<CommentKey, ApiError> {
    let case = path_case_id(raw)?;
    // Comment ids have the alphabet of case and task ids.
    TaskId::parse(raw_comment).map_err(|_| not_found(raw, raw_comment))?;
    Ok(CommentKey {
        case,
        comment: raw_comment.to_owned(),
    })
}

/// A store answer for one comment: a missing comment is 404 `comment_not_found`, a
/// stale `If-Match` 412 `version_conflict` naming the comment's version.
fn comment_write(
    key: &CommentKey,
    r: crate::error::Result<Result<Committed<crate::domain::Comment>, ItemError>>,
) -> Result<Committed<crate::domain::Comment>, ApiError> {
    match r {
        Err(crate::error::Error::NotFound) => Err(not_found(key.case.as_str(), &key.comment)),
        Err(e) => Err(e.into()),
        Ok(Err(ItemError::VersionConflict { expected, actual })) => Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            codes::VERSION_CONFLICT,
            format!(
                "If-Match names version {expected}, but comment {} is at version {actual}",
                key.comment
            ),
        )),
        Ok(Err(e)) => Err(e.into()),
        Ok(Ok(c)) => Ok(c),
    }
}

/// Write a comment or an internal note on a case.
///
/// `visibility` is `internal` (the default) or `public`: a label for the reader, not a
/// permission (every key that reads cases reads both). `body` (1 to 65,536 characters)
/// is kept exactly as given: show it as text. `author` is the calling key's name. The
/// case's `commentCount` and version move.
#[utoipa::path(
    post,
    path = "/api/v1/cases/{caseId}/comments",
    operation_id = "createComment",
    tag = "cases",
    params(("caseId" = String, Path, description = "The case's id.", example = "CASE-000001")),
    request_body(content = docket_api::NewComment, content_type = "application/json"),
    responses(
        (status = 201, description = "The new comment; `Location` names it.", body = docket_api::Comment,
            headers(("Location" = String), ("ETag" = String), ("X-Consistency-Token" = String))),
        (status = 404, description = "No such case (`case_not_found`).", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad body or visibility, or the case has 10,000 comments (`validation_failed`).", body = Problem, content_type = "application/problem+json")
    )
)]
async fn create(
    State(s): State<AppState>,
    PathParam(raw): PathParam<String>,
    caller: Caller,
    JsonBody(body): JsonBody<docket_api::NewComment>,
) -> Result<Response, ApiError> {
    let id = path_case_id(&raw)?;
    let new = NewComment::parse(body, "").map_err(ApiError::validation)?;
    let Committed { value, commit, .. } = s
        .engine
        .create_comment(&id, new, caller.author(s.engine.now()))
        .await??;
    let location = format!("/api/v1/cases/{id}/comments/{}", value.id);
    let mut res = answer(StatusCode::CREATED, value, commit);
    if let Ok(v) = HeaderValue::from_str(&location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(res)
}

/// A case's comments and internal notes, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/cases/{caseId}/comments",
    operation_id = "listComments",
    tag = "cases",
    params(("caseId" = String, Path, description = "The case's id.", example = "CASE-000001"), CommentQuery),
    responses(
        (status = 200, description = "A page of comments.", body = Page<docket_api::Comment>),
        (status = 400, description = "A bad `visibility`, `limit` or `cursor` (`invalid_query`).", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case (`case_not_found`).", body = Problem, content_type = "application/problem+json")
    )
)]
async fn list(
    State(s): State<AppState>,
    PathParam(raw): PathParam<String>,
    QueryParams(q): QueryParams<CommentQuery>,
) -> Result<Json<Page<docket_api::Comment>>, ApiError> {
    let id = path_case_id(&raw)?;
    let limit = s.page_size(q.limit)?;
    let visibility = q
        .visibility
        .as_deref()
        .map(Visibility::parse)
        .transpose()
        .map_err(|e| ApiError::query("visibility", &e))?;
    let page = s
        .engine
        .list_comments(&id, visibility, decode_cursor(q.cursor.as_deref())?, limit)
        .await?
        .ok_or_else(|| ApiError::case_not_found(&raw))?;
    Ok(Json(Page {
        items: page.items.into_iter().map(dto::comment).collect(),
        next_cursor: encode_cursor(page.next),
    }))
}

/// One comment or internal note of a case (the address `Location` gave when it was
/// written). Its `ETag` is its version, for `If-Match` on an edit or a delete.
#[utoipa::path(
    get,
    path = "/api/v1/cases/{caseId}/comments/{commentId}",
    operation_id = "getComment",
    tag = "cases",
    params(
        ("caseId" = String, Path, description = "The case's id.", example = "CASE-000001"),
        ("commentId" = String, Path, description = "The comment's id.", example = "CMT-000001")
    ),
    responses(
        (status = 200, description = "The comment.", body = docket_api::Comment,
            headers(("ETag" = String))),
        (status = 404, description = "No such case (`case_not_found`) or comment (`comment_not_found`).", body = Problem, content_type = "application/problem+json")
    )
)]
async fn get(
    State(s): State<AppState>,
    PathParam((raw, raw_comment)): PathParam<(String, String)>,
) -> Result<Response, ApiError> {
    let key = comment_key(&raw, &raw_comment)?;
    let comment = s
        .engine
        .get_comment(&key)
        .await?
        .ok_or_else(|| ApiError::case_not_found(&raw))?
        .ok_or_else(|| not_found(&raw, &raw_comment))?;
    let version = comment.version;
    Ok(with_etag(
        Json(dto::comment(comment)).into_response(),
        version,
    ))
}

/// Edit a comment: its `body`, its `visibility`.
///
/// `If-Match` (the comment's `ETag`, its version) makes the edit apply only to that
/// version: else 412 `version_conflict`. An edit that changes nothing answers the
/// comment as it is.
#[utoipa::path(
    patch,
    path = "/api/v1/cases/{caseId}/comments/{commentId}",
    operation_id = "updateComment",
    tag = "cases",
    params(
        ("caseId" = String, Path, description = "The case's id.", example = "CASE-000001"),
        ("commentId" = String, Path, description = "The comment's id.", example = "CMT-000001"),
        ("If-Match" = Option<String>, Header, description = "The version the edit is for: `\"2\"`.")
    ),
    request_body(content = docket_api::CommentPatch, content_type = "application/json"),
    responses(
        (status = 200, description = "The comment as edited.", body = docket_api::Comment,
            headers(("ETag" = String), ("X-Consistency-Token" = String))),
        (status = 404, description = "No such case (`case_not_found`) or comment (`comment_not_found`).", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` names another version (`version_conflict`).", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad body or visibility (`validation_failed`).", body = Problem, content_type = "application/problem+json")
    )
)]
async fn update(
    State(s): State<AppState>,
    PathParam((raw, raw_comment)): PathParam<(String, String)>,
    headers: HeaderMap,
    caller: Caller,
    JsonBody(body): JsonBody<docket_api::CommentPatch>,
) -> Result<Response, ApiError> {
    let key = comment_key(&raw, &raw_comment)?;
    let change = CommentChange::parse(body).map_err(ApiError::validation)?;
    let expected = if_match(&headers)?;
    let r = s
        .engine
        .update_comment(&key, change, expected, caller.author(s.engine.now()))
        .await;
    let Committed { value, commit, .. } = comment_write(&key, r)?;
    Ok(answer(StatusCode::OK, value, commit))
}

/// Delete a comment. With `If-Match`, only that version of it.
#[utoipa::path(
    delete,
    path = "/api/v1/cases/{caseId}/comments/{commentId}",
    operation_id = "deleteComment",
    tag = "cases",
    params(
        ("caseId" = String, Path, description = "The case's id.", example = "CASE-000001"),
        ("commentId" = String, Path, description = "The comment's id.", example = "CMT-000001"),
        ("If-Match" = Option<String>, Header, description = "Delete only this version: `\"2\"`.")
    ),
    responses(
        (status = 204, description = "Deleted.", headers(("X-Consistency-Token" = String))),
        (status = 404, description = "No such case (`case_not_found`) or comment (`comment_not_found`).", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` names another version (`version_conflict`).", body = Problem, content_type = "application/problem+json")
    )
)]
async fn delete(
    State(s): State<AppState>,
    PathParam((raw, raw_comment)): PathParam<(String, String)>,
    headers: HeaderMap,
    caller: Caller,
) -> Result<Response, ApiError> {
    let key = comment_key(&raw, &raw_comment)?;
    let expected = if_match(&headers)?;
    let r = s
        .engine
        .delete_comment(&key, expected, caller.author(s.engine.now()))
        .await;
    let Committed { commit, .. } = comment_write(&key, r)?;
    Ok(with_token(StatusCode::NO_CONTENT.into_response(), commit))
}
