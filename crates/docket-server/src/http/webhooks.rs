//! `/api/v1/webhooks` (admin): subscriptions that push the change feed to a URL, their
//! secrets (shown at creation and rotation only), test events, and the delivery log
//! with redelivery.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use docket_api::{
    CHANGE_TYPES, CreatedWebhook, DeliveryQuery, NewWebhook, Page, Problem, WebhookDelivery,
    WebhookFilter, WebhookPatch, codes,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::cursor::{decode_cursor, encode_cursor};
use super::error::ApiError;
use super::extract::{JsonBody, PathParam, QueryParams};
use super::{AppState, with_token};
use crate::domain::FieldError;
use crate::domain::webhook::{DeliveryState, Webhook};
use crate::engine::webhooks::WebhookSpec;
use crate::error::Error;
use crate::wire;

/// Longest description, in characters.
const MAX_DESCRIPTION: usize = 1_000;
/// Most values a filter key may list.
const MAX_FILTER_VALUES: usize = 100;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, delete))
        .routes(routes!(rotate_secret))
        .routes(routes!(test))
        .routes(routes!(deliveries))
        .routes(routes!(redeliver))
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        codes::WEBHOOK_NOT_FOUND,
        format!("there is no webhook {id}"),
    )
}

fn found(id: &str) -> impl FnOnce(Error) -> ApiError + '_ {
    move |e| match e {
        Error::NotFound => not_found(id),
        e => e.into(),
    }
}

/// The fields of a create or a change, checked; every problem at once.
fn check(
    s: &AppState,
    url: Option<&str>,
    events: Option<&[String]>,
    filter: Option<&WebhookFilter>,
    description: Option<&str>,
) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    if let Some(url) = url {
        if let Err(m) = crate::engine::targets::check_url(url, &s.engine.allowed_hosts) {
            errors.push(FieldError::new("url", &m));
        }
    }
    if let Some(events) = events {
        if events.is_empty() {
            errors.push(FieldError::new(
                "events",
                "name at least one change type, or \"*\"",
            ));
        }
        for e in events {
            if e != "*" && !CHANGE_TYPES.contains(&e.as_str()) {
                errors.push(FieldError::new(
                    "events",
                    &format!(
                        "'{e}' is not a change type; one of *, {}",
                        CHANGE_TYPES.join(", ")
                    ),
                ));
            }
        }
    }
    if let Some(f) = filter {
        for (key, values) in [
            ("filter.status", &f.status),
            ("filter.assignee", &f.assignee),
            ("filter.tag", &f.tag),
            ("filter.fields", &f.fields),
        ] {
            if values.as_ref().is_some_and(|v| v.len() > MAX_FILTER_VALUES) {
                errors.push(FieldError::new(
                    key,
                    &format!("at most {MAX_FILTER_VALUES} values"),
                ));
            }
        }
    }
    if description.is_some_and(|d| d.chars().count() > MAX_DESCRIPTION) {
        errors.push(FieldError::new(
            "description",
            &format!("at most {MAX_DESCRIPTION} characters"),
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(errors))
    }
}

fn with_secret(w: &Webhook) -> CreatedWebhook {
    CreatedWebhook {
        webhook: wire::webhook(w),
        secret: w.secret.clone(),
    }
}

/// Subscribe a URL to changes. The answer holds the signing secret, shown only here
/// (and on rotation).
#[utoipa::path(
    post,
    path = "/api/v1/webhooks",
    operation_id = "createWebhook",
    tag = "webhooks",
    request_body(content = NewWebhook, content_type = "application/json"),
    responses(
        (status = 201, description = "The webhook, with its secret.", body = CreatedWebhook,
            headers(("Location" = String), ("X-Consistency-Token" = String))),
        (status = 422, description = "A URL docket may not send to, or an unknown change type (`validation_failed`).", body = Problem, content_type = "application/problem+json")
    )
)]
async fn create(
    State(s): State<AppState>,
    JsonBody(body): JsonBody<NewWebhook>,
) -> Result<Response, ApiError> {
    check(
        &s,
        Some(&body.url),
        Some(&body.events),
        body.filter.as_ref(),
        body.description.as_deref(),
    )?;
    let made = s
        .engine
        .create_webhook(
            body.url,
            body.events,
            wire::webhook_filter(body.filter),
            body.description.filter(|d| !d.is_empty()),
        )
        .await?;
    tracing::info!(webhook = %made.value.id, "webhook created");
    let mut res = (StatusCode::CREATED, Json(with_secret(&made.value))).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/webhooks/{}", made.value.id)) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(with_token(res, made.commit))
}

/// Every webhook, oldest first; never a secret.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks",
    operation_id = "listWebhooks",
    tag = "webhooks",
    responses((status = 200, description = "The webhooks.", body = Page<docket_api::Webhook>))
)]
async fn list(State(s): State<AppState>) -> Result<Json<Page<docket_api::Webhook>>, ApiError> {
    let hooks = s.engine.list_webhooks().await?;
    Ok(Json(Page {
        items: hooks.iter().map(wire::webhook).collect(),
        next_cursor: None,
    }))
}

/// One webhook.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/{webhookId}",
    operation_id = "getWebhook",
    tag = "webhooks",
    params(("webhookId" = String, Path, description = "The webhook's id.")),
    responses(
        (status = 200, description = "The webhook.", body = docket_api::Webhook),
        (status = 404, description = "No such webhook (`webhook_not_found`).", body = Problem, content_type = "application/problem+json")
    )
)]
async fn read(
    State(s): State<AppState>,
    PathParam(id): PathParam<String>,
) -> Result<Json<docket_api::Webhook>, ApiError> {
    let w = s
        .engine
        .get_webhook(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(wire::webhook(&w)))
}

/// Change a webhook: `url`, `events`, `filter` (replaced), `enabled`, `description`.
#[utoipa::path(
    patch,
    path = "/api/v1/webhooks/{webhookId}",
    operation_id = "updateWebhook",
    tag = "webhooks",
    params(("webhookId" = String, Path, description = "The webhook's id.")),
    request_body(content = WebhookPatch, content_type = "application/json"),
    responses(
        (status = 200, description = "The webhook as changed.", body = docket_api::Webhook, headers(("X-Consistency-Token" = String))),
        (status = 404, description = "No such webhook (`webhook_not_found`).", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad value (`validation_failed`).", body = Problem, content_type = "application/problem+json")
    )
)]
async fn update(
    State(s): State<AppState>,
    PathParam(id): PathParam<String>,
    JsonBody(body): JsonBody<WebhookPatch>,
) -> Result<Response, ApiError> {
    check(
        &s,
        body.url.as_deref(),
        body.events.as_deref(),
        body.filter.as_ref(),
        body.description.as_deref(),
    )?;
    let spec = WebhookSpec {
        url: body.url,
        events: body.events,
        filter: body.filter.map(|f| wire::webhook_filter(Some(f))),
        description: body.description,
        enabled: body.enabled,
    };
    let changed = s
        .engine
        .update_webhook(&id, spec)
        .await
        .map_err(found(&id))?;
    Ok(with_token(
        Json(wire::webhook(&changed.value)).into_response(),
        changed.commit,
    ))
}

/// Remove a webhook and its delivery log.
#[utoipa::path(
    delete,
    path = "/api/v1/webhooks/{webhookId}",
    operation_id = "deleteWebhook",
    tag = "webhooks",
    params(("webhookId" = String, Path, description = "The webhook's id.")),
    responses(
        (status = 204, description = "Removed.", headers(("X-Consistency-Token" = String))),
        (status = 404, description = "No such webhook (`webhook_not_found`).", body = Problem, content_type = "application/problem+json")
    )
)]
async fn delete(
    State(s): State<AppState>,
    PathParam(id): PathParam<String>,
) -> Result<Response, ApiError> {
    let gone = s.engine.delete_webhook(&id).await.map_err(found(&id))?;
    Ok(with_token(
        StatusCode::NO_CONTENT.into_response(),
        gone.commit,
    ))
}

/// A new signing secret. For 24 hours deliveries carry signatures by both the new and
/// the old secret (space-separated), so receivers can switch without losing any.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{webhookId}/rotate-secret",
    operation_id = "rotateWebhookSecret",
    tag = "webhooks",
    params(("webhookId" = String, Path, description = "The webhook's id.")),
    responses(
        (status = 200, description = "The webhook, with its new secret.", body = CreatedWebhook, headers(("X-Consistency-Token" = String))),
        (status = 404, description = "No such webhook (`webhook_not_found`).", body = Problem, content_type = "application/problem+json")
    )
)]
async fn rotate_secret(
    State(s): State<AppState>,
    PathParam(id): PathParam<String>,
) -> Result<Response, ApiError> {
    let rotated = s
        .engine
        .rotate_webhook_secret(&id)
        .await
        .map_err(found(&id))?;
    tracing::info!(webhook = %id, "webhook secret rotated");
    Ok(with_token(
        Json(with_secret(&rotated.value)).into_response(),
        rotated.commit,
    ))
}

/// Send a `webhook.test` event now (through the delivery log, with retries).
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{webhookId}/test",
    operation_id = "testWebhook",
    tag = "webhooks",
    params(("webhookId" = String, Path, description = "The webhook's id.")),
    responses(
        (status = 202, description = "The test delivery, queued.", body = WebhookDelivery, headers(("X-Consistency-Token" = String))),
        (status = 404, description = "No such webhook (`webhook_not_found`).", body = Problem, content_type = "application/problem+json")
    )
)]
async fn test(
    State(s): State<AppState>,
    PathParam(id): PathParam<String>,
) -> Result<Response, ApiError> {
    let d = s.engine.test_webhook(&id).await.map_err(found(&id))?;
    let res = (StatusCode::ACCEPTED, Json(wire::webhook_delivery(&d.value))).into_response();
    Ok(with_token(res, d.commit))
}

/// A webhook's deliveries, newest first, optionally of one status.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/{webhookId}/deliveries",
    operation_id = "listWebhookDeliveries",
    tag = "webhooks",
    params(("webhookId" = String, Path, description = "The webhook's id."), DeliveryQuery),
    responses(
        (status = 200, description = "A page of deliveries.", body = Page<WebhookDelivery>),
        (status = 404, description = "No such webhook (`webhook_not_found`).", body = Problem, content_type = "application/problem+json")
    )
)]
async fn deliveries(
    State(s): State<AppState>,
    PathParam(id): PathParam<String>,
    QueryParams(q): QueryParams<DeliveryQuery>,
) -> Result<Json<Page<WebhookDelivery>>, ApiError> {
    let state = q
        .status
        .as_deref()
        .filter(|st| !st.is_empty())
        .map(|st| {
            DeliveryState::parse(st)
                .ok_or_else(|| ApiError::query("status", "must be pending, succeeded or failed"))
        })
        .transpose()?;
    let page = s
        .engine
        .webhook_deliveries(
            &id,
            state,
            decode_cursor(q.cursor.as_deref())?,
            s.page_size(q.limit)?,
        )
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(Page {
        items: page.items.iter().map(wire::webhook_delivery).collect(),
        next_cursor: encode_cursor(page.next),
    }))
}

/// Send a delivery again now (whatever its status; it is retried as a new one).
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{webhookId}/deliveries/{deliveryId}/redeliver",
    operation_id = "redeliverWebhookDelivery",
    tag = "webhooks",
    params(
        ("webhookId" = String, Path, description = "The webhook's id."),
        ("deliveryId" = String, Path, description = "The delivery's id.")
    ),
    responses(
        (status = 202, description = "The delivery, pending again.", body = WebhookDelivery, headers(("X-Consistency-Token" = String))),
        (status = 404, description = "No such webhook (`webhook_not_found`) or delivery (`delivery_not_found`).", body = Problem, content_type = "application/problem+json")
    )
)]
async fn redeliver(
    State(s): State<AppState>,
    PathParam((id, delivery)): PathParam<(String, String)>,
) -> Result<Response, ApiError> {
    let d = s
        .engine
        .redeliver_webhook(&id, &delivery)
        .await
        .map_err(found(&id))?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                codes::DELIVERY_NOT_FOUND,
                format!("webhook {id} has no delivery {delivery}"),
            )
        })?;
    let res = (StatusCode::ACCEPTED, Json(wire::webhook_delivery(&d.value))).into_response();
    Ok(with_token(res, d.commit))
}
