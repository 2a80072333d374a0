//! Who a request comes from, as `auth::authorize` found it ([`Caller`], which handlers
//! take as an extractor), and the 401 answer for a request that could not say.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use docket_api::codes;

use super::error::ApiError;
use crate::domain::ApiKey;

/// The caller of a request, put there by [`super::auth::authorize`].
#[derive(Debug, Clone)]
pub enum Caller {
    /// No key exists: the server is open.
    Open,
    Key(Arc<ApiKey>),
}

impl Caller {
    /// The name history records for changes this caller makes.
    pub fn actor_name(&self) -> String {
        match self {
            Caller::Open => "api".into(),
            Caller::Key(k) => k.actor(),
        }
    }

    /// The caller as a comment's author, writing at `at`: the key's name, `open` in open
    /// mode (as the API names it).
    pub fn author(&self, at: crate::domain::Timestamp) -> crate::domain::Actor {
        crate::domain::Actor {
            name: match self {
                Caller::Open => "open".into(),
                Caller::Key(_) => self.actor_name(),
            },
            at,
        }
    }

    /// The caller as the writer of a change made at `at` (the engine's now).
    pub fn actor(&self, at: crate::domain::Timestamp) -> crate::domain::Actor {
        crate::domain::Actor {
            name: self.actor_name(),
            at,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Caller>()
            .cloned()
            .unwrap_or(Caller::Open))
    }
}

pub(super) fn unauthorized(detail: &str) -> Response {
    let mut res =
        ApiError::new(StatusCode::UNAUTHORIZED, codes::UNAUTHORIZED, detail).into_response();
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"docket\""),
    );
    res
}
