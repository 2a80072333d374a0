//! JSON inputs: a document (array, or the `{"updates","options"}` object) or NDJSON.
//!
//! Items are first split as raw text, so each keeps its position in the file; then each
//! is decoded on its own, with the API's rules (unknown fields are refused).

use docket_api::{BulkItem, BulkOptions};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::Input;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body<'a> {
    #[serde(borrow)]
    updates: Vec<&'a RawValue>,
    #[serde(default)]
    options: Option<BulkOptions>,
}

/// A JSON array of items, or `{"updates": [...], "options": {...}}`.
pub fn parse_document(text: &str) -> Result<Input, String> {
    let trimmed = text.trim_start();
    let (raws, options) = if trimmed.starts_with('{') {
        let body: Body = serde_json::from_str(text).map_err(|e| at(&e, 1))?;
        (body.updates, body.options)
    } else {
        let raws: Vec<&RawValue> = serde_json::from_str(text).map_err(|e| at(&e, 1))?;
        (raws, None)
    };
    let mut input = Input {
        options,
        ..Input::default()
    };
    for (i, raw) in raws.into_iter().enumerate() {
        let line = line_of(text, raw.get());
        let item = serde_json::from_str::<BulkItem>(raw.get())
            .map_err(|e| format!("{} (item {i})", at(&e, line)))?;
        input.items.push(item);
        input.lines.push(line);
    }
    Ok(input)
}

/// One item per line; blank lines are skipped.
pub fn parse_lines(text: &str) -> Result<Input, String> {
    let mut input = Input::default();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let item = serde_json::from_str::<BulkItem>(line).map_err(|e| at(&e, n + 1))?;
        input.items.push(item);
        input.lines.push(n + 1);
    }
    Ok(input)
}

/// "line L column C: message", for an error in text that starts on line `first`.
fn at(e: &serde_json::Error, first: usize) -> String {
    let line = first + e.line().saturating_sub(1);
    // serde_json appends " at line L column C"; say it first instead.
    let msg = e.to_string();
    let msg = msg
        .rsplit_once(" at line ")
        .map_or(msg.as_str(), |(m, _)| m)
        .to_owned();
    if e.line() == 0 {
        format!("line {first}: {msg}")
    } else {
        format!("line {line} column {}: {msg}", e.column())
    }
}

/// The line `part` (a slice of `text`) starts on.
fn line_of(text: &str, part: &str) -> usize {
    let offset = (part.as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_items_keep_their_lines() {
        let text = "[\n  {\"caseId\": \"A\", \"status\": \"Open\"},\n\n  {\"caseId\": \"B\"}\n]";
        let input = parse_document(text).unwrap();
        assert_eq!(input.lines, vec![2, 4]);
        assert_eq!(input.items[1].case_id, "B");
    }

    #[test]
    fn the_object_form_carries_options() {
        let text = r#"{"updates": [{"caseId": "A"}], "options": {"atomic": true}}"#;
        let input = parse_document(text).unwrap();
        assert!(input.options.unwrap().atomic);
    }

    #[test]
    fn an_unknown_field_names_its_line_and_item() {
        let text = "[\n{\"caseId\": \"A\"},\n{\"caseId\": \"B\",\n \"stauts\": \"Open\"}\n]";
        let err = parse_document(text).unwrap_err();
        assert!(err.starts_with("line 4 column"), "{err}");
        assert!(err.contains("unknown field `stauts`"), "{err}");
        assert!(err.contains("(item 1)"), "{err}");
    }

    #[test]
    fn broken_json_names_its_line() {
        let err = parse_document("[\n{\"caseId\": \"A\"},\n{\"caseId\": }\n]").unwrap_err();
        assert!(err.starts_with("line 3 column"), "{err}");
    }

    #[test]
    fn ndjson_errors_name_the_line() {
        let err = parse_lines("{\"caseId\": \"A\"}\n\n{\"caseId\": 5}\n").unwrap_err();
        assert!(err.starts_with("line 3 "), "{err}");
        let ok = parse_lines("{\"caseId\": \"A\"}\n\n{\"caseId\": \"B\"}\n").unwrap();
        assert_eq!(ok.lines, vec![1, 3]);
    }
}
