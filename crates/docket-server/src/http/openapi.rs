//! The API's OpenAPI 3.1 document, generated from the code: every route is registered
//! through `utoipa_axum::routes!` from its handler's `#[utoipa::path]`, so the router and
//! the document hold the same routes. Each operation's security comes from
//! [`super::auth::ROUTES`], and the problems every operation of a kind can answer (401,
//! 403, 400 for a bad query, 413/415/422 for a bad body, 500, 503) are added here once.
//!
//! Served at `GET /api/v1/openapi.json`; `GET /docs` renders it in a page that needs
//! nothing from the internet.

use std::sync::Arc;

use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use utoipa::OpenApi;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, Object, Ref, RefOr, ResponseBuilder, Type};

use super::auth::{Access, ROUTES, access};

/// The document's fixed parts; the paths come from the routers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "docket",
        description = "Case management whose bulk updates never leave a stale read.\n\n\
            Errors are `application/problem+json` with a stable `code`. Once an API key \
            exists, every route but the probes and this description needs \
            `Authorization: Bearer <token>`; each operation names the scope it needs \
            (`admin` grants all). With no key at all the server runs open, on loopback only.",
        license(name = "Apache-2.0")
    ),
    components(schemas(docket_api::Problem, docket_api::FieldError)),
    tags(
        (name = "cases", description = "Cases, their history and tasks"),
        (name = "bulk", description = "Bulk updates (durable jobs) and status refresh"),
        (name = "jobs", description = "Job status, results, progress, cancel, retry, callbacks"),
        (name = "settings", description = "Runtime settings (admin)"),
        (name = "keys", description = "API keys (admin)"),
        (name = "operations", description = "Probes, metrics, this description")
    )
)]
struct ApiDoc;

/// The base document (info, tags, shared schemas).
pub fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

fn problem(description: &str) -> RefOr<utoipa::openapi::Response> {
    let schema: RefOr<utoipa::openapi::schema::Schema> = Ref::from_schema_name("Problem").into();
    ResponseBuilder::new()
        .description(description)
        .content("application/problem+json", Content::new(Some(schema)))
        .build()
        .into()
}

fn add(op: &mut Operation, status: &str, description: &str) {
    op.responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| problem(description));
}

/// Adds what the code does not spell out per handler: the bearer scheme, each
/// operation's security from the route table, and the problems shared by every
/// operation of a kind.
pub fn complete(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("dkt_<keyId>_<secret>")
                .description(Some(
                    "An API key made with `docket keys create` or `POST /api/v1/keys`.",
                ))
                .build(),
        ),
    );
    let mut ids = std::collections::HashSet::new();
    for (path, item) in doc.paths.paths.iter_mut() {
        for (method, op) in operations(item) {
            // One handler serving two methods (bulk-update) has one id: the second
            // method's gets a suffix, so every operation's id is unique.
            if let Some(id) = &mut op.operation_id {
                if !ids.insert(id.clone()) {
                    id.push_str(&method[..1]);
                    id.push_str(&method[1..].to_ascii_lowercase());
                    ids.insert(id.clone());
                }
            }
            let need = access(&method.parse().unwrap_or_default(), Some(path));
            op.security = Some(match need {
                Access::Open => Vec::new(),
                Access::AnyKey => vec![SecurityRequirement::new("bearer", Vec::<String>::new())],
                Access::Scope(s) => vec![SecurityRequirement::new("bearer", [s.as_str()])],
            });
            if need != Access::Open {
                add(op, "401", "No valid API key (`unauthorized`).");
                add(
                    op,
                    "421",
                    "The server is open (no API key exists) and the request's `Host` is not a loopback name or address (`misdirected_request`).",
                );
            }
            if need != Access::Open {
                add(
                    op,
                    "429",
                    "The key's rate limit is spent (`rate_limited`, see `Retry-After`); only when rate limits are on (`rate_limit.mode`).",
                );
            }
            if matches!(need, Access::Scope(_)) {
                add(
                    op,
                    "403",
                    "The key lacks the scope this route needs (`forbidden`).",
                );
            }
            if op
                .parameters
                .iter()
                .flatten()
                .any(|p| matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query))
            {
                add(
                    op,
                    "400",
                    "A query parameter is unknown or out of range (`invalid_query`, `invalid_cursor`).",
                );
            }
            if op.request_body.is_some() {
                add(
                    op,
                    "400",
                    "The body is not JSON (`malformed_json`) or names a field the API does not have (`unknown_field`).",
                );
                add(
                    op,
                    "413",
                    "The body is larger than `server.max_body_bytes` (`payload_too_large`).",
                );
                add(
                    op,
                    "415",
                    "The body is not `application/json` (`unsupported_media_type`).",
                );
                add(
                    op,
                    "422",
                    "A value is invalid, or an array stands where an object belongs; `errors` names each field (`validation_failed`).",
                );
            }
            if path.starts_with("/api/v1/") && path != "/api/v1/openapi.json" {
                add(
                    op,
                    "500",
                    "The server failed; the cause is logged (`internal`).",
                );
                add(
                    op,
                    "503",
                    "The store is busy (`service_unavailable`, see `Retry-After`) or the request ran over `server.request_timeout_seconds` (`timeout`).",
                );
            }
            headers(path, method, op);
        }
    }
    doc
}

/// The headers the router's layers add: `Retry-After` on every 503 and 429, and
/// `Cache-Control` on API reads (`super::API_READ_CACHE_CONTROL`).
fn headers(path: &str, method: &str, op: &mut Operation) {
    let read = method == "GET" && path.starts_with("/api/v1/");
    for (status, response) in op.responses.responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        if status == "503" || status == "429" {
            response
                .headers
                .entry("Retry-After".into())
                .or_insert_with(|| {
                    HeaderBuilder::new()
                        .schema(Object::with_type(Type::Integer))
                        .description(Some("Seconds to wait before retrying."))
                        .build()
                });
        }
        if read {
            response
                .headers
                .entry("Cache-Control".into())
                .or_insert_with(|| {
                    HeaderBuilder::new()
                        .description(Some(format!(
                            "`{}`: revalidate before reusing; no shared cache may keep it.",
                            super::API_READ_CACHE_CONTROL
                        )))
                        .build()
                });
        }
    }
}

fn operations(item: &mut PathItem) -> Vec<(&'static str, &mut Operation)> {
    [
        ("GET", &mut item.get),
        ("POST", &mut item.post),
        ("PUT", &mut item.put),
        ("PATCH", &mut item.patch),
        ("DELETE", &mut item.delete),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.as_mut().map(|op| (m, op)))
    .collect()
}

/// Every `(method, path)` the document describes.
pub fn operation_list(doc: &mut utoipa::openapi::OpenApi) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, item) in doc.paths.paths.iter_mut() {
        for (method, _) in operations(item) {
            out.push((method.to_owned(), path.clone()));
        }
    }
    out
}

/// Checks, at start-up, that the route table and the document agree: a route the
/// table does not name would need `admin` by accident.
pub fn check_against_table(doc: &mut utoipa::openapi::OpenApi) -> Result<(), String> {
    let mut documented = operation_list(doc);
    documented.sort();
    let mut table: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    table.sort();
    if documented == table {
        Ok(())
    } else {
        let missing: Vec<_> = documented.iter().filter(|r| !table.contains(r)).collect();
        let extra: Vec<_> = table.iter().filter(|r| !documented.contains(r)).collect();
        Err(format!(
            "routes not in http::auth::ROUTES: {missing:?}; in ROUTES but not served: {extra:?}"
        ))
    }
}

/// The document as served.
#[derive(Clone)]
pub struct Served(pub Arc<String>);

/// `GET /api/v1/openapi.json`.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    operation_id = "getOpenApi",
    tag = "operations",
    responses((status = 200, description = "This document (OpenAPI 3.1).", content_type = "application/json", body = Object))
)]
pub async fn document(axum::Extension(doc): axum::Extension<Served>) -> Response {
    let mut res = doc.0.as_str().to_owned().into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// `GET /docs`: the API reference, rendered from the document by a script embedded in
/// the binary (no internet needed).
#[utoipa::path(
    get,
    path = "/docs",
    operation_id = "docs",
    tag = "operations",
    responses((status = 200, description = "The API reference page.", content_type = "text/html", body = String,
        headers(("Cache-Control" = String, description = "`no-cache`."))))
)]
pub async fn docs() -> impl IntoResponse {
    // Revalidated, like the console's pages: an upgraded server serves a new page.
    (
        [(header::CACHE_CONTROL, "no-cache")],
        Html(include_str!("docs.html")),
    )
}
