//! Extractors whose rejections are problem+json: JSON bodies, query strings, path
//! parameters.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, header, request::Parts};
use docket_api::{FieldError, codes};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::objects_only::ObjectsOnly;

/// A JSON request body, unparsed: the content type and size are checked.
pub struct RawJson(pub Bytes);

/// The media type of a request, lowercased, without parameters.
fn media_type(req: &Request) -> Option<String> {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
}

fn is_json(m: &str) -> bool {
    m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
}

/// The whole body, within the size limit.
async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                codes::PAYLOAD_TOO_LARGE,
                "the request body is larger than the server accepts",
            )
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                codes::MALFORMED_JSON,
                format!("could not read the request body: {e}"),
            )
        }
    })
}

impl<S: Send + Sync> FromRequest<S> for RawJson {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !media_type(&req).is_some_and(|m| is_json(&m)) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                codes::UNSUPPORTED_MEDIA_TYPE,
                "the request body must be JSON, with Content-Type: application/json",
            ));
        }
        Ok(Self(body_bytes(req, state).await?))
    }
}

/// The formats a bulk body may come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    Json,
    Ndjson,
    Csv,
}

/// The format of a bulk body, by its content type: JSON, NDJSON
/// (`application/x-ndjson`) or CSV (`text/csv`); else 415.
pub(super) fn body_format(req: &Request) -> Result<BodyFormat, ApiError> {
    match media_type(req).as_deref() {
        Some(m) if is_json(m) => Ok(BodyFormat::Json),
        Some("application/x-ndjson" | "application/jsonl") => Ok(BodyFormat::Ndjson),
        Some("text/csv") => Ok(BodyFormat::Csv),
        _ => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            codes::UNSUPPORTED_MEDIA_TYPE,
            "the request body must be JSON (application/json), NDJSON (application/x-ndjson) or CSV (text/csv)",
        )),
    }
}

/// A JSON request body. Unknown fields are 400 `unknown_field` (the types deny them),
/// bad syntax is 400 `malformed_json`, a wrong type or missing field is 422
/// `validation_failed`, a body over the limit is 413 `payload_too_large`.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let RawJson(bytes) = RawJson::from_request(req, state).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parses a JSON document, mapping serde's errors to problems that name the field
/// (with its path, e.g. `updates[3].status`). Every struct, at any depth, must be a JSON
/// object: an array in its place is 422 (see [`ObjectsOnly`]).
///
/// A whole number written with a fraction or an exponent (`30.0`, `3e1`) is the number
/// JSON Schema says it is: where an integer is expected it is read as that integer.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    parse_json_at(bytes, "")
}

/// [`parse_json`] of a part of a body: its errors name their field under `at` (e.g.
/// `updates[3]`).
pub fn parse_json_at<T: DeserializeOwned>(bytes: &[u8], at: &str) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let first = serde_path_to_error::deserialize(ObjectsOnly(&mut de));
    let value = match first {
        Ok(v) => v,
        Err(e)
            if e.inner()
                .to_string()
                .starts_with("invalid type: floating point") =>
        {
            // The rare body with `30.0` for an integer: read it again with such numbers
            // made integers (only then, so every other body is read once).
            let mut whole: serde_json::Value =
                serde_json::from_slice(bytes).map_err(|e| json_error(at, e))?;
            crate::domain::integral_floats(&mut whole);
            return serde_path_to_error::deserialize(ObjectsOnly(whole)).map_err(|e| {
                let path = under(at, &e.path().to_string());
                json_error(&path, e.into_inner())
            });
        }
        Err(e) => {
            let path = under(at, &e.path().to_string());
            return Err(json_error(&path, e.into_inner()));
        }
    };
    de.end().map_err(|e| json_error(at, e))?;
    Ok(value)
}

/// The path `path` (serde_path_to_error's: `.` for the value itself) inside `at`.
fn under(at: &str, path: &str) -> String {
    match (at, path) {
        ("", p) => p.to_owned(),
        (a, "." | "") => a.to_owned(),
        (a, p) if p.starts_with('[') => format!("{a}{p}"),
        (a, p) => format!("{a}.{p}"),
    }
}

pub(super) fn json_error(path: &str, e: serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    let msg = e.to_string();
    let path = if path == "." { "" } else { path };
    match e.classify() {
        Category::Data => {
            let named = between_backticks(&msg);
            if msg.starts_with("unknown field") {
                let name = named.unwrap_or_default();
                let field = if path.is_empty() {
                    name
                } else if path.ends_with(&name) {
                    path.to_owned()
                } else {
                    format!("{path}.{name}")
                };
                ApiError {
                    errors: vec![FieldError {
                        field: field.clone(),
                        message: "unknown field".into(),
                    }],
                    ..ApiError::new(
                        StatusCode::BAD_REQUEST,
                        codes::UNKNOWN_FIELD,
                        format!("unknown field '{field}' in the request body"),
                    )
                }
            } else {
                // A value of the wrong type is named by its place (`updates[1]`), or is
                // the body itself.
                let field = if msg.starts_with("missing field") {
                    named.unwrap_or_default()
                } else if path.is_empty() {
                    String::from("body")
                } else {
                    path.to_owned()
                };
                ApiError {
                    errors: vec![FieldError {
                        field,
                        message: msg.clone(),
                    }],
                    ..ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        codes::VALIDATION_FAILED,
                        msg,
                    )
                }
            }
        }
        Category::Syntax | Category::Eof | Category::Io => ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::MALFORMED_JSON,
            format!("the request body is not valid JSON: {msg}"),
        ),
    }
}

fn between_backticks(s: &str) -> Option<String> {
    let start = s.find('`')? + 1;
    let len = s[start..].find('`')?;
    Some(s[start..start + len].to_owned())
}

/// A query string. A bad or unknown parameter is 400 `invalid_query`, and so is a value
/// holding a control character (see [`refused_in_query`]).
pub struct QueryParams<T>(pub T);

impl<S, T> FromRequestParts<S> for QueryParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or_default();
        refuse_control_characters(q)?;
        serde_urlencoded_from_str(q).map(QueryParams)
    }
}

/// Whether a query value holds a character that no stored text holds: a control
/// character other than tab, line feed and carriage return (text fields allow those
/// three; see `domain::case`). A NUL above all: PostgreSQL refuses it in text and
/// SQLite's full-text syntax cannot quote it, so it would fail in a store as a 500.
fn refused_in_query(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// 400 `invalid_query` naming the first parameter whose value (once percent-decoded)
/// holds a refused character: checked here, for every route, so no handler and no
/// store sees one.
fn refuse_control_characters(q: &str) -> Result<(), ApiError> {
    // A control character can only arrive percent-encoded (the URI grammar has none).
    if !q.contains('%') {
        return Ok(());
    }
    let pairs: Vec<(String, String)> = serde_urlencoded_from_str(q)?;
    for (name, value) in pairs {
        if name.chars().any(refused_in_query) {
            return Err(ApiError::query(
                "query",
                "a parameter name must not contain control characters",
            ));
        }
        if value.chars().any(refused_in_query) {
            return Err(ApiError::query(
                &name,
                "must not contain control characters (such as NUL)",
            ));
        }
    }
    Ok(())
}

fn serde_urlencoded_from_str<T: DeserializeOwned>(q: &str) -> Result<T, ApiError> {
    axum::extract::Query::<T>::try_from_uri(
        &format!("/?{q}")
            .parse()
            .map_err(|_| ApiError::query("query", "unreadable query string"))?,
    )
    .map(|axum::extract::Query(t)| t)
    .map_err(|e| {
        let text = e.body_text();
        let field = bad_value_of(&text)
            .or_else(|| between_backticks(&text))
            .unwrap_or_else(|| "query".into());
        ApiError::query(&field, text)
    })
}

/// The parameter whose value a query rejection refuses: axum prefixes the problem with
/// the value's path (`...: limit: invalid digit`). An unknown parameter has no path; its
/// name is the first quoted word instead.
fn bad_value_of(text: &str) -> Option<String> {
    let rest = text.strip_prefix("Failed to deserialize query string: ")?;
    let (name, _) = rest.split_once(": ")?;
    let ident = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    ident.then(|| name.to_owned())
}

/// Path parameters. A segment that is not text (a percent-encoded byte that is not
/// UTF-8) or that holds a control character names nothing this server has (no id holds
/// one): 404 `not_found`, before a handler or a store sees it.
pub struct PathParam<T>(pub T);

impl<S, T> FromRequestParts<S> for PathParam<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let names_nothing = || {
            ApiError::new(
                StatusCode::NOT_FOUND,
                codes::NOT_FOUND,
                "the path names nothing this server has",
            )
        };
        let raw = axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| names_nothing())?;
        if raw.iter().any(|(_, v)| v.chars().any(char::is_control)) {
            return Err(names_nothing());
        }
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(t)| PathParam(t))
            .map_err(|_| names_nothing())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_query_value_is_named_by_its_parameter_and_an_unknown_one_by_its_name() {
        #[derive(Debug, serde::Deserialize)]
        enum Sort {
            #[serde(rename = "createdAt")]
            CreatedAt,
        }
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Q {
            limit: Option<u32>,
            sort: Option<Sort>,
        }
        let field = |q: &str| {
            serde_urlencoded_from_str::<Q>(q).unwrap_err().errors[0]
                .field
                .clone()
        };
        assert_eq!(field("limit=abc"), "limit");
        assert_eq!(field("sort=title"), "sort");
        assert_eq!(field("colour=red"), "colour");
    }

    #[test]
    fn a_control_character_in_a_query_value_is_refused_naming_its_parameter_but_tab_and_newlines_are_text()
     {
        let field = |q: &str| {
            refuse_control_characters(q).unwrap_err().errors[0]
                .field
                .clone()
        };
        assert_eq!(field("limit=5&q=ab%00cd"), "q");
        assert_eq!(field("cursor=%7F"), "cursor");
        assert_eq!(field("a%01b=1"), "query");
        for fine in [
            "",
            "q=a+b",
            "q=caf%C3%A9",
            "q=two%09words%0Aand%0D",
            "q=%ZZ",
        ] {
            assert!(refuse_control_characters(fine).is_ok(), "{fine}");
        }
    }
}
