//! API keys and their scopes, as the admin API (`/api/v1/keys`) and the CLI show them.

use serde::{Deserialize, Serialize};

/// Body of `POST /api/v1/keys`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewApiKey {
    /// What the key is for (shown by `docket keys list` and as the actor in history).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 100))]
    pub name: Option<String>,
    /// One or more of `cases:read`, `cases:write`, `jobs:read`, `admin`.
    #[cfg_attr(feature = "openapi", schema(min_items = 1, example = json!(["cases:read", "jobs:read"])))]
    pub scopes: Vec<String>,
}

/// A key as listings show it: never its token, never its hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    pub key_id: String,
    pub name: Option<String>,
    pub scopes: Vec<String>,
    pub created_at: String,
    /// Set once the key is revoked; a revoked key authorises nothing.
    pub revoked_at: Option<String>,
}

/// The answer of `POST /api/v1/keys`: the key and its token, shown this once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub key: ApiKey,
    /// `Authorization: Bearer <token>`. Only its hash is stored: it cannot be shown again.
    pub token: String,
}

/// The answer of `GET /api/v1/whoami`: who the server takes the caller to be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    /// True when the server runs open (no key exists): every caller may do everything.
    pub open: bool,
    /// The key the request was authorised with; absent when the server is open.
    pub key_id: Option<String>,
    pub name: Option<String>,
    /// What the caller may do; with `admin`, everything.
    pub scopes: Vec<String>,
    /// The server's limits that shape a client's requests.
    pub limits: Limits,
}

/// Limits a client needs to size its requests (part of `GET /api/v1/whoami`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    /// Most items one bulk update may carry (`Jobs.MaxItemsPerRequest`, now).
    pub max_items_per_request: u32,
    /// Largest `limit` a listing takes.
    pub max_page_size: u32,
}
