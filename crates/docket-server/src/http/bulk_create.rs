//! `POST /api/v1/cases/bulk-create`: a job that creates cases, or upserts them by
//! `externalId`, from a JSON array, a `{"cases", "options"}` object, NDJSON or CSV.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use docket_api::{BulkCreateQuery, BulkCreateRequest, BulkOptions, NewCase, Problem, codes};
use serde_json::{Map, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Caller;
use super::bulk_submit::{JobParts, Spooler, check_expected, check_options, invalid, submit};
use super::error::ApiError;
use super::extract::{BodyFormat, QueryParams, parse_json_at};
use super::json_stream::{Shape, split_json};
use super::streamed::Streamed;
use crate::domain::{JobItems, JobKind};
use crate::spool::ItemSpool;
use std::io::BufRead;
use std::sync::Arc;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(bulk_create))
}

/// A body that could not be read, whole: 400 naming the line (or item).
fn malformed(code: &'static str, at: &str, why: &str) -> ApiError {
    ApiError {
        errors: vec![docket_api::FieldError {
            field: at.to_owned(),
            message: why.to_owned(),
        }],
        ..ApiError::new(StatusCode::BAD_REQUEST, code, format!("{at}: {why}"))
    }
}

/// One NDJSON line per case (blank lines skipped), each handed to `case` as it is read.
fn ndjson(
    input: &mut dyn BufRead,
    case: &mut dyn FnMut(NewCase) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    let mut bytes = Vec::new();
    for n in 1.. {
        bytes.clear();
        let bad = |why: &str| malformed(codes::MALFORMED_JSON, &format!("line {n}"), why);
        if input
            .read_until(b'\n', &mut bytes)
            .map_err(|e| bad(&e.to_string()))?
            == 0
        {
            break;
        }
        let line = std::str::from_utf8(&bytes).map_err(|e| bad(&e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        case(serde_json::from_str(line).map_err(|e| bad(&e.to_string()))?)?;
    }
    Ok(())
}

/// The columns a CSV may have besides `tags` and `fields.NAME`.
const PLAIN: [&str; 8] = [
    "caseId",
    "title",
    "description",
    "status",
    "statusReason",
    "priority",
    "assignee",
    "externalId",
];

/// A CSV's header row: its column names, each known and named once.
fn csv_header(cells: Vec<String>) -> Result<Vec<String>, ApiError> {
    let header: Vec<String> = cells.iter().map(|h| h.trim().to_owned()).collect();
    for (i, h) in header.iter().enumerate() {
        if header[..i].contains(h) {
            return Err(malformed(
                codes::MALFORMED_CSV,
                "line 1",
                &format!("column '{h}' twice"),
            ));
        }
        let known = PLAIN.contains(&h.as_str())
            || h == "tags"
            || h.strip_prefix("fields.").is_some_and(|n| !n.is_empty());
        if !known {
            return Err(malformed(
                codes::MALFORMED_CSV,
                "line 1",
                &format!(
                    "unknown column '{h}' (caseId, title, description, status, statusReason, priority, assignee, externalId, tags, fields.NAME)"
                ),
            ));
        }
    }
    Ok(header)
}

/// A CSV row under `header`, as a case. An empty cell leaves the field out.
fn csv_case(header: &[String], line: usize, cells: Vec<String>) -> Result<NewCase, ApiError> {
    let at = format!("line {line}");
    if cells.len() != header.len() {
        return Err(malformed(
            codes::MALFORMED_CSV,
            &at,
            &format!(
                "{} cells, and the header names {}",
                cells.len(),
                header.len()
            ),
        ));
    }
    let mut case = Map::new();
    let mut fields = Map::new();
    for (name, cell) in header.iter().zip(cells) {
        if cell.is_empty() {
            continue;
        }
        if let Some(f) = name.strip_prefix("fields.") {
            fields.insert(f.to_owned(), Value::String(cell));
        } else if name == "tags" {
            let tags: Vec<Value> = cell
                .split(';')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(|t| Value::String(t.to_owned()))
                .collect();
            // A cell of separators alone names no tag: as an empty cell, no change.
            if !tags.is_empty() {
                case.insert("tags".into(), Value::Array(tags));
            }
        } else {
            case.insert(name.clone(), Value::String(cell));
        }
    }
    if !fields.is_empty() {
        case.insert("fields".into(), Value::Object(fields));
    }
    serde_json::from_value(Value::Object(case))
        .map_err(|e| malformed(codes::MALFORMED_CSV, &at, &e.to_string()))
}

/// A CSV with a header row naming the fields: `caseId, title, description, status,
/// statusReason, priority, assignee, externalId`, `tags` (separated by `;`) and
/// `fields.NAME` (text); each row handed to `case` as it is read.
fn csv(
    input: &mut dyn BufRead,
    case: &mut dyn FnMut(NewCase) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    let mut header: Option<Vec<String>> = None;
    super::csv::each_record(
        input,
        |(line, cells)| match &header {
            None => {
                header = Some(csv_header(cells)?);
                Ok(())
            }
            Some(h) => case(csv_case(h, line, cells)?),
        },
        |line, why| malformed(codes::MALFORMED_CSV, &format!("line {line}"), &why),
    )
}

const SHAPE: Shape = Shape {
    array: "cases",
    members: &["cases", "options"],
    bare: true,
    expecting: "an array of cases or an object with \"cases\"",
};

/// Reads a body in `format` as it arrives: its cases spooled (at most `max`), keyed by
/// `caseId` (or `""`), and its options.
fn read_body(
    format: BodyFormat,
    input: &mut dyn BufRead,
    max: u32,
) -> Result<(ItemSpool, BulkOptions), ApiError> {
    let mut cases = Spooler::new(max, 2)?;
    let mut case = |c: NewCase| {
        let json = serde_json::to_string(&c).map_err(|_| ApiError::internal())?;
        let id = c.case_id.as_deref();
        cases.push(
            id.unwrap_or_default(),
            &json,
            &[id, c.external_id.as_deref()],
        )
    };
    let options = match format {
        BodyFormat::Ndjson => ndjson(input, &mut case).map(|()| BulkOptions::default())?,
        BodyFormat::Csv => csv(input, &mut case).map(|()| BulkOptions::default())?,
        BodyFormat::Json => {
            let split = split_json(input, &SHAPE, &mut |at, raw| {
                case(parse_json_at(raw.get().as_bytes(), at)?)
            })?;
            if !split.bare && !split.has_array {
                return Err(invalid("cases", "missing field `cases`"));
            }
            match split.member("options") {
                Some(raw) => parse_json_at(raw, "options")?,
                None => BulkOptions::default(),
            }
        }
    };
    // A case id given twice, and (what an upsert goes by) an external id given twice.
    let again = |id: &str, json: &str| {
        let external = serde_json::from_str::<ExternalId>(json).ok();
        vec![
            Some(id.to_owned()).filter(|id| !id.is_empty()),
            external.and_then(|e| e.external_id),
        ]
    };
    let spool = cases.finish("cases", again, |k, i| {
        format!("cases[{i}].{}", ["caseId", "externalId"][k])
    })?;
    Ok((spool, options))
}

/// An item's `externalId`, read again (to find one given twice).
#[derive(serde::Deserialize)]
struct ExternalId {
    #[serde(rename = "externalId")]
    external_id: Option<String>,
}

/// Create cases, or upsert them by `externalId`, as one durable job (`type`
/// `bulk-create`).
///
/// The body is a JSON array of cases (each as `POST /api/v1/cases` takes it),
/// `{"cases": [..], "options": {..}}`, NDJSON (`application/x-ndjson`, one case per
/// line) or CSV (`text/csv`: a header row of field names, `tags` separated by `;`,
/// `fields.NAME` columns as text). The options of a bulk update apply, and
/// `upsertBy: "externalId"`: an item whose `externalId` a case has updates that case
/// with the item's fields (the workflow's rules apply) instead of creating one. The
/// forms without an object give their options as query parameters. A body that cannot
/// be read is refused whole (400, naming the line or item) and creates nothing; an
/// item that cannot apply fails alone (`validation_failed`, `case_exists`,
/// `external_id_taken`, `invalid_transition`). Each result carries the case's id and
/// `action`: `created` or `updated`.
#[utoipa::path(
    post,
    path = "/api/v1/cases/bulk-create",
    operation_id = "bulkCreate",
    tag = "bulk",
    params(BulkCreateQuery, ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters.")),
    request_body(content(
        (BulkCreateRequest = "application/json"),
        (String = "application/x-ndjson"),
        (String = "text/csv")
    )),
    responses(
        (status = 200, description = "The job is stored (or, waited for, has ended).", body = docket_api::BulkAnswer,
            headers(("Location" = String, description = "The job's status URL (unless `returnJobId` is false)."),
                ("X-Consistency-Token" = String, description = "The submission's commit; a finished job's own token when waited for."))),
        (status = 202, description = "`waitForCompletion` timed out: the job's current status.", body = docket_api::JobStatus,
            headers(("Location" = String, description = "The job's status URL (unless `returnJobId` is false)."),
                ("X-Consistency-Token" = String, description = "The submission's commit."))),
        (status = 400, description = "A body that cannot be read (`malformed_json`, `malformed_csv`, naming the line), an unknown field, or a bad `Idempotency-Key`.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`options.expectedCount` differs from the number of cases (`count_mismatch`).", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "More cases than `Jobs.MaxItemsPerRequest`, or the body is too large (`payload_too_large`).", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON, NDJSON or CSV (`unsupported_media_type`).", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No cases, a `caseId` or `externalId` twice, or a bad option (`validation_failed`), or a reused `Idempotency-Key`.", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many items queued (`queue_full`); see `Retry-After`.", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64)))
    )
)]
async fn bulk_create(
    State(s): State<AppState>,
    headers: HeaderMap,
    caller: Caller,
    QueryParams(q): QueryParams<BulkCreateQuery>,
    body: Streamed,
) -> Result<Response, ApiError> {
    let max = s.engine.settings.get().max_items_per_request;
    let format = body.format;
    let ((spool, options), digest) = body
        .parse(move |input| read_body(format, input, max))
        .await?;
    let options = q.over(options);
    check_options(&options, &s, JobKind::Create)?;
    check_expected(spool.len(), &options)?;
    let parts = JobParts {
        kind: JobKind::Create,
        items: JobItems::Spooled(Arc::new(spool)),
        by_filter: None,
        template: None,
        upsert_by: options.upsert_by.clone(),
    };
    submit(&s, &headers, &caller, &digest, parts, &options).await
}
