//! A job's results exported whole: `GET /api/v1/jobs/{jobId}/results` with
//! `Accept: text/csv` or `application/x-ndjson` streams every result in index order,
//! a page at a time from the store, so a million results never sit in memory.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::domain::{ItemOutcome, ItemRecord};
use crate::wire;

/// Results read from the store per step of the stream.
const EXPORT_PAGE: u32 = 1_000;

/// The export formats, by media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Export {
    Csv,
    Ndjson,
}

impl Export {
    /// The format the request's `Accept` asks for, if it asks for an export.
    pub fn wanted(headers: &HeaderMap) -> Option<Self> {
        let accept = headers.get(header::ACCEPT)?.to_str().ok()?;
        let types = accept
            .split(',')
            .map(|t| t.split(';').next().unwrap_or("").trim());
        for t in types {
            if t.eq_ignore_ascii_case("text/csv") {
                return Some(Self::Csv);
            }
            if t.eq_ignore_ascii_case("application/x-ndjson") {
                return Some(Self::Ndjson);
            }
            if t.eq_ignore_ascii_case("application/json") {
                return None;
            }
        }
        None
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Ndjson => "application/x-ndjson",
        }
    }

    /// One result as a line of this format.
    fn line(self, r: ItemRecord, out: &mut String) {
        match self {
            Self::Csv => {
                let (code, detail) = r.error.clone().unwrap_or_default();
                let version = r.version.map(|v| v.to_string()).unwrap_or_default();
                let fields = [
                    r.index.to_string(),
                    r.case_id,
                    r.outcome.to_string(),
                    code,
                    detail,
                    version,
                ];
                let cells: Vec<String> = fields.iter().map(|f| csv_cell(f)).collect();
                out.push_str(&cells.join(","));
                out.push_str("\r\n");
            }
            Self::Ndjson => {
                // An item result always serializes.
                if let Ok(json) = serde_json::to_string(&wire::item_result(r)) {
                    out.push_str(&json);
                    out.push('\n');
                }
            }
        }
    }
}

/// A CSV cell (RFC 4180): quoted when it holds a comma, a quote or a line break.
fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// The CSV header row.
const CSV_HEADER: &str = "index,caseId,outcome,code,detail,version\r\n";

/// Streams every result of job `id` (of `outcome`, if given) after index `after`, in
/// index order. The job is known to exist; one that is deleted meanwhile ends the
/// stream early.
pub fn stream(
    s: AppState,
    id: String,
    outcome: Option<ItemOutcome>,
    after: Option<i64>,
    format: Export,
) -> Response {
    let head = match format {
        Export::Csv => Some(CSV_HEADER.to_owned()),
        Export::Ndjson => None,
    };
    let state = (s, id, after, false, head);
    let body = futures_util::stream::unfold(state, move |(s, id, after, done, head)| async move {
        if let Some(h) = head {
            return Some((Ok(Bytes::from(h)), (s, id, after, done, None)));
        }
        if done {
            return None;
        }
        let page = match s.engine.job_results(&id, outcome, after, EXPORT_PAGE).await {
            Ok(Some(p)) => p,
            Ok(None) => return None,
            // Cut the body short: the client sees an incomplete transfer, not a
            // silently shorter export.
            Err(e) => {
                return Some((
                    Err(std::io::Error::other(e.to_string())),
                    (s, id, after, true, None),
                ));
            }
        };
        let next = page.next;
        let mut out = String::new();
        for r in page.items {
            format.line(r, &mut out);
        }
        Some((Ok(Bytes::from(out)), (s, id, next, next.is_none(), None)))
    });
    let mut res = Body::from_stream(body).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accept_header_picks_the_export_and_json_stays_paged() {
        let accept = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
            Export::wanted(&h)
        };
        assert_eq!(accept("text/csv"), Some(Export::Csv));
        assert_eq!(accept("application/x-ndjson; q=1"), Some(Export::Ndjson));
        assert_eq!(accept("application/json, text/csv"), None);
        assert_eq!(accept("*/*"), None);
        assert_eq!(Export::wanted(&HeaderMap::new()), None);
    }

    #[test]
    fn csv_cells_are_quoted_only_when_they_must_be() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a, b"), "\"a, b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
