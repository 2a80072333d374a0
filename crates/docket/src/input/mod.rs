//! Bulk-update input files: a JSON array of items, the API's `{"updates", "options"}`
//! object, NDJSON (one item per line) or CSV with a header row (`caseId,status,...`).
//!
//! Parsing is all-or-nothing and happens before anything is sent: a malformed file is
//! an [`InputError`](crate::exit::InputError) naming the line, and no job is created.
//! Every item keeps the line it came from, so failures can point back into the file.

mod csv_rows;
mod json;

use std::collections::HashMap;
use std::io::Read as _;
use std::path::Path;

use docket_api::{BulkItem, BulkOptions};

use crate::exit::input_error;

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InputFormat {
    /// By extension (.csv, .ndjson, .jsonl, .json), else by content.
    Auto,
    /// A JSON array of items, or `{"updates": [...], "options": {...}}`.
    Json,
    /// One JSON item per line.
    Ndjson,
    /// A header row naming the columns, then one item per row.
    Csv,
}

/// A parsed input file.
#[derive(Debug, Default)]
pub struct Input {
    pub items: Vec<BulkItem>,
    /// The line each item starts on (1-based), parallel to `items`.
    pub lines: Vec<usize>,
    /// The `options` of the object form, when the file had them.
    pub options: Option<BulkOptions>,
}

/// Reads `path` (`-`: standard input) and parses it.
pub fn read(path: &str, format: InputFormat) -> anyhow::Result<Input> {
    let (name, text) = if path == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| input_error(format!("cannot read standard input: {e}")))?;
        ("standard input".to_owned(), buf)
    } else {
        let buf =
            std::fs::read(path).map_err(|e| input_error(format!("cannot read {path}: {e}")))?;
        (path.to_owned(), buf)
    };
    let text = String::from_utf8(text)
        .map_err(|e| input_error(format!("{name}: not UTF-8 text ({e})")))?;
    let format = match format {
        InputFormat::Auto => detect(path, &text),
        f => f,
    };
    let input = parse(&text, format).map_err(|e| input_error(format!("{name}: {e}")))?;
    if input.items.is_empty() {
        return Err(input_error(format!("{name}: no updates in it")));
    }
    check_duplicates(&input).map_err(|e| input_error(format!("{name}: {e}")))?;
    Ok(input)
}

/// Parses text already read; errors say the line.
pub fn parse(text: &str, format: InputFormat) -> Result<Input, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match format {
        InputFormat::Auto => parse(text, detect("", text)),
        InputFormat::Json => json::parse_document(text),
        InputFormat::Ndjson => json::parse_lines(text),
        InputFormat::Csv => csv_rows::parse(text),
    }
}

/// The format from the extension, else from the first character: `[` is a JSON array;
/// `{` is the object form when the whole text is one object with `updates`, else NDJSON;
/// anything else is CSV.
fn detect(path: &str, text: &str) -> InputFormat {
    let ext = Path::new(path)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("csv") => return InputFormat::Csv,
        Some("ndjson" | "jsonl") => return InputFormat::Ndjson,
        _ => {}
    }
    let text = text.trim_start_matches('\u{feff}').trim_start();
    match text.chars().next() {
        Some('[') => InputFormat::Json,
        Some('{') => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(v) if v.get("updates").is_some() => InputFormat::Json,
            Ok(_) => InputFormat::Ndjson,
            // Several values (NDJSON), or a broken object: the first line decides.
            Err(_) => {
                let first = text.lines().next().unwrap_or("");
                if serde_json::from_str::<serde_json::Value>(first).is_ok() {
                    InputFormat::Ndjson
                } else {
                    InputFormat::Json
                }
            }
        },
        _ if ext.as_deref() == Some("json") => InputFormat::Json,
        _ => InputFormat::Csv,
    }
}

/// A case twice would put two jobs (or one request) on the same case in no set order;
/// the server refuses it within a request, the CLI across the whole file.
fn check_duplicates(input: &Input) -> Result<(), String> {
    let mut first: HashMap<&str, usize> = HashMap::with_capacity(input.items.len());
    let mut dups = Vec::new();
    for (i, item) in input.items.iter().enumerate() {
        if let Some(j) = first.insert(item.case_id.as_str(), i) {
            first.insert(item.case_id.as_str(), j);
            dups.push(format!(
                "{} on line {} and line {}",
                item.case_id, input.lines[j], input.lines[i]
            ));
        }
    }
    if dups.is_empty() {
        return Ok(());
    }
    let more = dups.len().saturating_sub(5);
    dups.truncate(5);
    let mut msg = format!("a case may appear once: {}", dups.join("; "));
    if more > 0 {
        msg.push_str(&format!(" (and {more} more)"));
    }
    Err(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_follows_the_extension_then_the_content() {
        assert_eq!(detect("a.csv", "[1]"), InputFormat::Csv);
        assert_eq!(detect("a.jsonl", ""), InputFormat::Ndjson);
        assert_eq!(detect("-", " [ ]"), InputFormat::Json);
        assert_eq!(detect("-", "{\"updates\": []}"), InputFormat::Json);
        assert_eq!(
            detect("-", "{\"caseId\": \"A\"}\n{\"caseId\": \"B\"}\n"),
            InputFormat::Ndjson
        );
        assert_eq!(detect("-", "caseId,status\nA,Open\n"), InputFormat::Csv);
        assert_eq!(detect("x.json", "caseId"), InputFormat::Json);
    }

    #[test]
    fn a_case_twice_is_refused_naming_both_lines() {
        let input = parse(
            "caseId,status\nA,Open\nB,Open\nA,Closed\n",
            InputFormat::Csv,
        )
        .unwrap();
        let err = check_duplicates(&input).unwrap_err();
        assert!(err.contains("A on line 2 and line 4"), "{err}");
    }
}
