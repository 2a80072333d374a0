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
use super::bulk_submit::{
    JobParts, check_expected, check_options, check_repeats, check_size, submit,
};
use super::error::ApiError;
use super::extract::{BodyFormat, QueryParams, RawBulk, parse_json};
use crate::domain::JobKind;

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

/// One NDJSON line per case (blank lines skipped).
fn ndjson(text: &str) -> Result<Vec<NewCase>, ApiError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let case: NewCase = serde_json::from_str(line).map_err(|e| {
            malformed(
                codes::MALFORMED_JSON,
                &format!("line {}", i + 1),
                &e.to_string(),
            )
        })?;
        out.push(case);
    }
    Ok(out)
}

/// A CSV with a header row naming the fields: `caseId, title, description, status,
/// statusReason, priority, assignee, externalId`, `tags` (separated by `;`) and
/// `fields.NAME` (text). An empty cell leaves the field out.
fn csv(text: &str) -> Result<Vec<NewCase>, ApiError> {
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
    let records = super::csv::records(text)
        .map_err(|(line, why)| malformed(codes::MALFORMED_CSV, &format!("line {line}"), &why))?;
    let mut rows = records.into_iter();
    let Some((_, header)) = rows.next() else {
        return Ok(Vec::new());
    };
    let header: Vec<String> = header.iter().map(|h| h.trim().to_owned()).collect();
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
    let mut out = Vec::new();
    for (line, cells) in rows {
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
        let case: NewCase = serde_json::from_value(Value::Object(case))
            .map_err(|e| malformed(codes::MALFORMED_CSV, &at, &e.to_string()))?;
        out.push(case);
    }
    Ok(out)
}

/// The cases and options of a body in `format`.
fn parse(format: BodyFormat, bytes: &[u8]) -> Result<(Vec<NewCase>, BulkOptions), ApiError> {
    let text =
        |code| std::str::from_utf8(bytes).map_err(|e| malformed(code, "body", &e.to_string()));
    match format {
        BodyFormat::Ndjson => Ok((
            ndjson(text(codes::MALFORMED_JSON)?)?,
            BulkOptions::default(),
        )),
        BodyFormat::Csv => Ok((csv(text(codes::MALFORMED_CSV)?)?, BulkOptions::default())),
        BodyFormat::Json => match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'[') => Ok((parse_json::<Vec<NewCase>>(bytes)?, BulkOptions::default())),
            _ => {
                let r: BulkCreateRequest = parse_json(bytes)?;
                Ok((r.cases, r.options))
            }
        },
    }
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
        (status = 202, description = "`waitForCompletion` timed out: the job's current status.", body = docket_api::JobStatus),
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
    RawBulk(format, bytes): RawBulk,
) -> Result<Response, ApiError> {
    let (cases, options) = parse(format, &bytes)?;
    let options = q.over(options);
    check_options(&options, &s, JobKind::Create)?;
    check_size("cases", cases.len(), &s)?;
    // A case id given twice, and (what an upsert goes by) an external id given twice.
    let repeats = |field: &str, of: fn(&NewCase) -> Option<&str>| {
        let (at, ids): (Vec<usize>, Vec<&str>) = cases
            .iter()
            .enumerate()
            .filter_map(|(i, c)| of(c).map(|v| (i, v)))
            .unzip();
        check_repeats(&ids, |i| format!("cases[{}].{field}", at[i]))
    };
    repeats("caseId", |c| c.case_id.as_deref())?;
    repeats("externalId", |c| c.external_id.as_deref())?;
    check_expected(cases.len(), &options)?;
    let mut items = Vec::with_capacity(cases.len());
    for c in &cases {
        let json = serde_json::to_string(c).map_err(|_| ApiError::internal())?;
        items.push((c.case_id.clone().unwrap_or_default(), json));
    }
    let parts = JobParts {
        kind: JobKind::Create,
        items,
        by_filter: None,
        template: None,
        upsert_by: options.upsert_by.clone(),
    };
    submit(&s, &headers, &caller, &bytes, parts, &options).await
}
