//! `/api/v1/keys` (admin): create a key (its token is in this answer only), list the
//! keys, revoke one. A revoked key stays listed, with `revokedAt`. `/api/v1/whoami`
//! (any key): the caller's own key and scopes, so a client can offer only what it may do.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use docket_api::{CreatedApiKey, Identity, Limits, NewApiKey, Page, Problem, codes};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{JsonBody, PathParam};
use super::{AppState, with_token};
use crate::domain::{Scope, is_key_id};
use crate::engine::Committed;
use crate::engine::keys::CreateError;
use crate::wire;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(revoke))
        .routes(routes!(whoami))
}

/// Create an API key. The answer holds its token, which is never shown again.
#[utoipa::path(
    post,
    path = "/api/v1/keys",
    operation_id = "createKey",
    tag = "keys",
    request_body(content = NewApiKey, content_type = "application/json"),
    responses((status = 201, description = "The key and its token.", body = CreatedApiKey, headers(("Location" = String), ("X-Consistency-Token" = String))))
)]
async fn create(
    State(s): State<AppState>,
    JsonBody(body): JsonBody<NewApiKey>,
) -> Result<Response, ApiError> {
    let Committed {
        value: issued,
        commit,
        ..
    } = s
        .engine
        .create_key(body.name, &body.scopes)
        .await
        .map_err(|e| match e {
            CreateError::Invalid(errs) => ApiError::validation(errs),
            CreateError::Store(e) => e.into(),
        })?;
    s.keys.forget();
    tracing::info!(key.id = %issued.key.id, scopes = ?issued.key.scopes, "API key created");
    let location = format!("/api/v1/keys/{}", issued.key.id);
    let body = CreatedApiKey {
        key: wire::api_key(&issued.key),
        token: issued.token,
    };
    let mut res = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(with_token(res, commit))
}

/// Every key, revoked ones too; never a token.
#[utoipa::path(
    get,
    path = "/api/v1/keys",
    operation_id = "listKeys",
    tag = "keys",
    responses((status = 200, description = "The keys.", body = Page<docket_api::ApiKey>))
)]
async fn list(State(s): State<AppState>) -> Result<Json<Page<docket_api::ApiKey>>, ApiError> {
    let keys = s.engine.list_keys().await?;
    Ok(Json(Page {
        items: keys.iter().map(wire::api_key).collect(),
        next_cursor: None,
    }))
}

/// Revoke a key: it authorises nothing from now on (on other nodes within
/// `auth.key_cache_ms`). Revoking it again keeps the first time.
#[utoipa::path(
    delete,
    path = "/api/v1/keys/{keyId}",
    operation_id = "revokeKey",
    tag = "keys",
    params(("keyId" = String, Path, description = "The key's id.")),
    responses(
        (status = 200, description = "The revoked key.", body = docket_api::ApiKey, headers(("X-Consistency-Token" = String))),
        (status = 404, description = "No such key (`key_not_found`).", body = Problem, content_type = "application/problem+json")
    )
)]
async fn revoke(
    State(s): State<AppState>,
    PathParam(id): PathParam<String>,
) -> Result<Response, ApiError> {
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            codes::KEY_NOT_FOUND,
            format!("there is no API key {id}"),
        )
    };
    if !is_key_id(&id) {
        return Err(not_found());
    }
    let Committed {
        value: key, commit, ..
    } = s.engine.revoke_key(&id).await.map_err(|e| match e {
        crate::error::Error::NotFound => not_found(),
        e => e.into(),
    })?;
    s.keys.forget();
    tracing::info!(key.id = %key.id, "API key revoked");
    Ok(with_token(
        Json(wire::api_key(&key)).into_response(),
        commit,
    ))
}

/// The caller: its key and scopes (every scope when the server is open), and the limits
/// its requests must keep to.
#[utoipa::path(
    get,
    path = "/api/v1/whoami",
    operation_id = "whoami",
    tag = "keys",
    responses((status = 200, description = "The caller's key and scopes.", body = Identity))
)]
async fn whoami(State(s): State<AppState>, caller: Caller) -> Json<Identity> {
    let limits = Limits {
        max_items_per_request: s.engine.settings.get().max_items_per_request,
        max_page_size: s.config.limits.max_page_size,
    };
    Json(match caller {
        Caller::Open => Identity {
            open: true,
            key_id: None,
            name: None,
            scopes: Scope::ALL.iter().map(|s| s.as_str().to_owned()).collect(),
            limits,
        },
        Caller::Key(k) => Identity {
            open: false,
            key_id: Some(k.id.clone()),
            name: k.name.clone(),
            scopes: k.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            limits,
        },
    })
}
