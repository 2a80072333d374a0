//! Cursors: opaque to clients, `n` and a position in the listing's order.

use super::error::ApiError;

pub fn encode_cursor(pos: Option<i64>) -> Option<String> {
    pos.map(|p| format!("n{p}"))
}

pub fn decode_cursor(c: Option<&str>) -> Result<Option<i64>, ApiError> {
    match c {
        None | Some("") => Ok(None),
        Some(c) => c
            .strip_prefix('n')
            .and_then(|n| n.parse::<i64>().ok())
            .filter(|n| *n >= 0)
            .map(Some)
            .ok_or_else(|| ApiError {
                code: docket_api::codes::INVALID_CURSOR,
                ..ApiError::query("cursor", "is not a cursor this server issued")
            }),
    }
}
