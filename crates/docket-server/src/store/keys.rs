//! API keys as both backends store them: scopes as space-separated text, the token's
//! SHA-256 as hex. The conversions live here once.

use super::{Error, Result};
use crate::domain::{ApiKey, Scope, Timestamp};

/// `cases:read jobs:read`.
pub fn scopes_text(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn hash_hex(hash: &[u8; 32]) -> String {
    crate::domain::hex(hash)
}

/// A key from its stored columns.
pub fn key_from_columns(
    id: String,
    name: Option<String>,
    scopes: &str,
    hash: &str,
    created_at: i64,
    revoked_at: Option<i64>,
) -> Result<ApiKey> {
    let bad = |what: &str| Error::Other(anyhow::anyhow!("api key {id}: stored {what} is invalid"));
    let scopes = scopes
        .split_whitespace()
        .map(str::parse)
        .collect::<std::result::Result<Vec<Scope>, _>>()
        .map_err(|_| bad("scopes"))?;
    let mut token_hash = [0u8; 32];
    if hash.len() != 64 {
        return Err(bad("hash"));
    }
    for (i, b) in token_hash.iter_mut().enumerate() {
        *b = hash
            .get(2 * i..2 * i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .ok_or_else(|| bad("hash"))?;
    }
    Ok(ApiKey {
        id,
        name,
        scopes,
        token_hash,
        created_at: Timestamp(created_at),
        revoked_at: revoked_at.map(Timestamp),
    })
}
