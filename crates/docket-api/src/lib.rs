//! The docket HTTP API's wire types, shared by the server and the client.
//!
//! Field names are camelCase on the wire, as docs/api.md documents them. Request
//! types reject unknown fields. No I/O lives here: only serde.

pub mod bulk;
pub mod cases;
pub mod changes;
pub mod codes;
pub mod comments;
pub mod jobs;
pub mod keys;
pub mod problem;
pub mod webhooks;

pub use bulk::*;
pub use cases::*;
pub use changes::{CHANGE_TYPES, Change, ChangePage, ChangeStreamQuery, ChangesQuery, FieldChange};
pub use comments::{Comment, CommentPatch, CommentQuery, NewComment};
pub use jobs::*;
pub use keys::{ApiKey, CreatedApiKey, Identity, Limits, NewApiKey};
pub use problem::{FieldError, Problem};
pub use webhooks::{
    CreatedWebhook, DeliveryQuery, NewWebhook, Webhook, WebhookDelivery, WebhookFilter,
    WebhookPatch,
};

use serde::{Deserialize, Deserializer, Serialize};

/// One page of a listing: the items and, when more follow, the cursor for the next page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Header carrying a point in the store's commit order (see docs/api.md).
pub const CONSISTENCY_TOKEN_HEADER: &str = "x-consistency-token";

/// Deserializes a field that may be absent (`None`), `null` (`Some(None)`) or a value.
///
/// Use with `#[serde(default, deserialize_with = "nullable")]`.
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}
