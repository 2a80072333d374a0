//! Cursors: opaque to clients, a position in the listing's order.
//!
//! Most listings have one order and page by one integer: `n<position>`. The case
//! listing has several orders, and a cursor continues only the order it came from, so
//! its cursor names the order too: `n<seq>` for the default `createdAt` (the form every
//! earlier cursor had, so those stay valid), `createdAtDesc.<seq>`,
//! `updatedAt.<ms>.<seq>` and `updatedAtDesc.<ms>.<seq>` for the others (no cursor
//! starts with `-`, which a command line would take for an option). A cursor of another
//! order, or one this server did not issue, is 400 `invalid_cursor`.

use docket_api::codes;

use super::error::ApiError;
use crate::domain::Timestamp;
use crate::domain::{CasePosition, CaseSort};

pub fn encode_cursor(pos: Option<i64>) -> Option<String> {
    pos.map(|p| format!("n{p}"))
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError {
        code: codes::INVALID_CURSOR,
        ..ApiError::query("cursor", message)
    }
}

pub fn decode_cursor(c: Option<&str>) -> Result<Option<i64>, ApiError> {
    match c {
        None | Some("") => Ok(None),
        Some(c) => legacy(c)
            .map(Some)
            .ok_or_else(|| invalid("is not a cursor this server issued")),
    }
}

/// `n<non-negative integer>`.
fn legacy(c: &str) -> Option<i64> {
    c.strip_prefix('n')
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| *n >= 0)
}

/// The name a case cursor gives its order.
fn cursor_name(sort: CaseSort) -> &'static str {
    match sort {
        CaseSort::CreatedAt => "n",
        CaseSort::CreatedAtDesc => "createdAtDesc",
        CaseSort::UpdatedAt => "updatedAt",
        CaseSort::UpdatedAtDesc => "updatedAtDesc",
    }
}

/// The `sort` value that asks for an order.
fn sort_name(sort: CaseSort) -> &'static str {
    docket_api::CaseSort::from(sort).as_str()
}

/// The cursor continuing a case listing in `sort`'s order after `pos`.
pub fn encode_case_cursor(sort: CaseSort, pos: CasePosition) -> String {
    match pos {
        CasePosition::Created(seq) if sort == CaseSort::CreatedAt => format!("n{seq}"),
        CasePosition::Created(seq) => format!("{}.{seq}", cursor_name(sort)),
        CasePosition::Updated(at, seq) => format!("{}.{}.{seq}", cursor_name(sort), at.0),
    }
}

/// The position a case cursor names, which must be one of `sort`'s order.
pub fn decode_case_cursor(
    c: Option<&str>,
    sort: CaseSort,
) -> Result<Option<CasePosition>, ApiError> {
    let c = match c {
        None | Some("") => return Ok(None),
        Some(c) => c,
    };
    let (from, pos) =
        parse_case_cursor(c).ok_or_else(|| invalid("is not a cursor this server issued"))?;
    if from != sort {
        return Err(invalid(format!(
            "continues a listing with sort={}, not sort={}; start again without a cursor",
            sort_name(from),
            sort_name(sort)
        )));
    }
    Ok(Some(pos))
}

fn parse_case_cursor(c: &str) -> Option<(CaseSort, CasePosition)> {
    if let Some(seq) = legacy(c) {
        return Some((CaseSort::CreatedAt, CasePosition::Created(seq)));
    }
    let (name, rest) = c.split_once('.')?;
    // createdAt has only the `n` form.
    let sort = CaseSort::ALL
        .into_iter()
        .find(|s| *s != CaseSort::CreatedAt && cursor_name(*s) == name)?;
    let seq = |s: &str| s.parse::<i64>().ok().filter(|n| *n >= 0);
    let pos = if sort.by_updated() {
        let (at, s) = rest.split_once('.')?;
        CasePosition::Updated(Timestamp(at.parse().ok()?), seq(s)?)
    } else {
        CasePosition::Created(seq(rest)?)
    };
    Some((sort, pos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_cursors_round_trip_in_every_order() {
        let cases = [
            (CaseSort::CreatedAt, CasePosition::Created(42), "n42"),
            (
                CaseSort::CreatedAtDesc,
                CasePosition::Created(42),
                "createdAtDesc.42",
            ),
            (
                CaseSort::UpdatedAt,
                CasePosition::Updated(Timestamp(1_700_000_000_123), 7),
                "updatedAt.1700000000123.7",
            ),
            (
                CaseSort::UpdatedAtDesc,
                CasePosition::Updated(Timestamp(-5), 7),
                "updatedAtDesc.-5.7",
            ),
        ];
        for (sort, pos, text) in cases {
            assert_eq!(encode_case_cursor(sort, pos), text);
            assert_eq!(decode_case_cursor(Some(text), sort).unwrap(), Some(pos));
            for other in CaseSort::ALL {
                if other != sort {
                    let e = decode_case_cursor(Some(text), other).unwrap_err();
                    assert_eq!(e.code, codes::INVALID_CURSOR);
                }
            }
        }
    }

    #[test]
    fn malformed_case_cursors_are_invalid() {
        for c in [
            "x",
            "n-1",
            "n",
            "n.5",
            "createdAtDesc",
            "createdAtDesc.",
            "createdAtDesc.a",
            "createdAtDesc.-1",
            "updatedAt.1",
            "updatedAt.1.x",
            "updatedAt.1.2.3",
            "updatedAtDesc..1",
            "createdAt.5",
            "-createdAt.5",
            "-updatedAt.1.2",
        ] {
            for sort in CaseSort::ALL {
                assert!(decode_case_cursor(Some(c), sort).is_err(), "{c} {sort:?}");
            }
        }
        assert_eq!(
            decode_case_cursor(Some(""), CaseSort::UpdatedAt).unwrap(),
            None
        );
    }
}
