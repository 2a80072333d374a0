//! `/api/v1/cases/{caseId}/tasks`: tasks related to a case.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use docket_api::{Page, PageQuery, Problem, codes};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Caller;
use super::cases::path_case_id;
use super::cursor::{decode_cursor, encode_cursor};
use super::error::ApiError;
use super::extract::{JsonBody, PathParam, QueryParams};
use super::{AppState, with_token};
use crate::domain::{NewTask, TaskChange, TaskId};
use crate::engine::Committed;
use crate::wire as dto;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(update))
}

/// Add a task to a case (not to a case in a terminal status).
#[utoipa::path(
    post,
    path = "/api/v1/cases/{caseId}/tasks",
    operation_id = "createTask",
    tag = "cases",
    params(("caseId" = String, Path, description = "The case's id.", example = "CASE-000001")),
    request_body(content = docket_api::NewTask, content_type = "application/json"),
    responses(
        (status = 201, description = "The new task; `Location` names it.", body = docket_api::Task,
            headers(("Location" = String), ("X-Consistency-Token" = String))),
        (status = 404, description = "No such case (`case_not_found`).", body = Problem, content_type = "application/problem+json")
    )
)]
async fn create(
    State(s): State<AppState>,
    PathParam(raw): PathParam<String>,
    caller: Caller,
    JsonBody(body): JsonBody<docket_api::NewTask>,
) -> Result<Response, ApiError> {
    let id = path_case_id(&raw)?;
    let new = NewTask::parse(body).map_err(ApiError::validation)?;
    let Committed {
        value: task,
        commit,
        ..
    } = s
        .engine
        .create_task(&id, new, caller.actor(s.engine.now()))
        .await??;
    let location = format!("/api/v1/cases/{id}/tasks/{}", task.id);
    let mut res = (StatusCode::CREATED, Json(dto::task(task))).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(with_token(res, commit))
}

/// A case's tasks, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/cases/{caseId}/tasks",
    operation_id = "listTasks",
    tag = "cases",
    params(("caseId" = String, Path, description = "The case's id.", example = "CASE-000001"), PageQuery),
    responses(
        (status = 200, description = "A page of tasks.", body = Page<docket_api::Task>),
        (status = 404, description = "No such case (`case_not_found`).", body = Problem, content_type = "application/problem+json")
    )
)]
async fn list(
    State(s): State<AppState>,
    PathParam(raw): PathParam<String>,
    QueryParams(q): QueryParams<PageQuery>,
) -> Result<Json<Page<docket_api::Task>>, ApiError> {
    let id = path_case_id(&raw)?;
    let limit = s.page_size(q.limit)?;
    let page = s
        .engine
        .list_tasks(&id, decode_cursor(q.cursor.as_deref())?, limit)
        .await?
        .ok_or_else(|| ApiError::case_not_found(&raw))?;
    Ok(Json(Page {
        items: page.items.into_iter().map(dto::task).collect(),
        next_cursor: encode_cursor(page.next),
    }))
}

/// Change a task: its title, `status` (`open` or `done`), assignee.
#[utoipa::path(
    patch,
    path = "/api/v1/cases/{caseId}/tasks/{taskId}",
    operation_id = "updateTask",
    tag = "cases",
    params(
        ("caseId" = String, Path, description = "The case's id.", example = "CASE-000001"),
        ("taskId" = String, Path, description = "The task's id.", example = "TASK-000001")
    ),
    request_body(content = docket_api::TaskPatch, content_type = "application/json"),
    responses(
        (status = 200, description = "The changed task.", body = docket_api::Task, headers(("X-Consistency-Token" = String))),
        (status = 404, description = "No such case (`case_not_found`) or task (`task_not_found`).", body = Problem, content_type = "application/problem+json")
    )
)]
async fn update(
    State(s): State<AppState>,
    PathParam((raw, raw_task)): PathParam<(String, String)>,
    caller: Caller,
    JsonBody(body): JsonBody<docket_api::TaskPatch>,
) -> Result<Response, ApiError> {
    let id = path_case_id(&raw)?;
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            codes::TASK_NOT_FOUND,
            format!("case {raw} has no task {raw_task}"),
        )
    };
    let task_id = TaskId::parse(&raw_task).map_err(|_| not_found())?;
    let change = TaskChange::parse(body).map_err(ApiError::validation)?;
    let Committed {
        value: task,
        commit,
        ..
    } = s
        .engine
        .update_task(&id, &task_id, change, caller.actor(s.engine.now()))
        .await
        .map_err(|e| match e {
            crate::error::Error::NotFound => not_found(),
            e => e.into(),
        })??;
    Ok(with_token(Json(dto::task(task)).into_response(), commit))
}
