//! `GET /api/v1/workflow`: the statuses this server's cases move through, the initial
//! and terminal ones and the transitions between them, as configured (`[workflow]`), so
//! a client can offer only the moves the server will accept.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use crate::wire;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(read))
}

/// The configured workflow.
///
/// `statuses` lists every status in display order, with the canonical names every read
/// returns (input matches them case-insensitively). `transitions` has a key for every
/// status; a move it does not list is 422 `invalid_transition`. The workflow is fixed
/// for the server's lifetime.
#[utoipa::path(
    get,
    path = "/api/v1/workflow",
    operation_id = "getWorkflow",
    tag = "cases",
    responses((status = 200, description = "The workflow.", body = docket_api::WorkflowInfo))
)]
async fn read(State(s): State<AppState>) -> Json<docket_api::WorkflowInfo> {
    Json(wire::workflow(&s.workflow))
}
