//! CSV input: a header row naming the columns, then one item per row.
//!
//! Columns (names match case-insensitively, ignoring `_`, `-` and spaces): `caseId`
//! (required), `status`, `statusReason`, `priority`, `assignee`, `tags` (separated by
//! `;`), `expectedVersion`, and `fields.NAME` for a custom field (the cell is text). An
//! empty cell leaves that attribute as it is.

use docket_api::BulkItem;
use serde_json::Value;

use super::Input;

const COLUMNS: &str = "caseId, status, statusReason, priority, assignee, tags (separated by ;), \
                       expectedVersion, fields.NAME";

#[derive(Debug, Clone, PartialEq)]
enum Column {
    CaseId,
    Status,
    StatusReason,
    Priority,
    Assignee,
    Tags,
    ExpectedVersion,
    Field(String),
}

fn column(name: &str) -> Option<Column> {
    if let Some(field) = name
        .strip_prefix("fields.")
        .or_else(|| name.strip_prefix("field."))
        && !field.is_empty()
    {
        return Some(Column::Field(field.to_owned()));
    }
    let norm: String = name
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .collect::<String>()
        .to_ascii_lowercase();
    Some(match norm.as_str() {
        "caseid" => Column::CaseId,
        "status" => Column::Status,
        "statusreason" => Column::StatusReason,
        "priority" => Column::Priority,
        "assignee" => Column::Assignee,
        "tags" => Column::Tags,
        "expectedversion" => Column::ExpectedVersion,
        _ => return None,
    })
}

pub fn parse(text: &str) -> Result<Input, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| error(&e, &mut LineCounter::new(text)))?
        .clone();
    let mut columns = Vec::with_capacity(header.len());
    for name in &header {
        let c = column(name)
            .ok_or_else(|| format!("line 1: unknown column '{name}'; the columns are {COLUMNS}"))?;
        if columns.contains(&c) {
            return Err(format!("line 1: column '{name}' appears twice"));
        }
        columns.push(c);
    }
    if !columns.contains(&Column::CaseId) {
        return Err(format!(
            "line 1: the header has no caseId column (the first line names the columns: {COLUMNS})"
        ));
    }
    let mut input = Input::default();
    // csv's own line numbers skip blank lines; count newlines up to each record instead.
    let mut lines = LineCounter::new(text);
    for record in reader.records() {
        let record = record.map_err(|e| error(&e, &mut lines))?;
        let line = lines.at(record.position().map_or(0, csv::Position::byte));
        if record.iter().all(str::is_empty) {
            continue;
        }
        let mut item = BulkItem::default();
        for (c, cell) in columns.iter().zip(record.iter()) {
            if cell.is_empty() {
                continue;
            }
            let text = Some(cell.to_owned());
            match c {
                Column::CaseId => item.case_id = cell.to_owned(),
                Column::Status => item.status = text,
                Column::StatusReason => item.status_reason = Some(text),
                Column::Priority => item.priority = text,
                Column::Assignee => item.assignee = Some(text),
                Column::Tags => {
                    item.tags = Some(
                        cell.split(';')
                            .map(str::trim)
                            .filter(|t| !t.is_empty())
                            .map(str::to_owned)
                            .collect(),
                    );
                }
                Column::ExpectedVersion => {
                    item.expected_version = Some(cell.parse().map_err(|_| {
                        format!("line {line}: expectedVersion '{cell}' is not a whole number")
                    })?);
                }
                Column::Field(name) => {
                    item.fields
                        .get_or_insert_with(Default::default)
                        .insert(name.clone(), Value::String(cell.to_owned()));
                }
            }
        }
        if item.case_id.is_empty() {
            return Err(format!("line {line}: the caseId cell is empty"));
        }
        input.items.push(item);
        input.lines.push(line);
    }
    Ok(input)
}

/// Line numbers of byte offsets, asked in increasing order.
struct LineCounter<'a> {
    text: &'a [u8],
    byte: usize,
    line: usize,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text: text.as_bytes(),
            byte: 0,
            line: 1,
        }
    }

    fn at(&mut self, byte: u64) -> usize {
        let mut byte = (byte as usize).min(self.text.len());
        // A record's position may be that of the blank lines before it.
        while matches!(self.text.get(byte), Some(b'\n' | b'\r')) {
            byte += 1;
        }
        if byte >= self.byte {
            self.line += self.text[self.byte..byte]
                .iter()
                .filter(|b| **b == b'\n')
                .count();
            self.byte = byte;
        }
        self.line
    }
}

fn error(e: &csv::Error, lines: &mut LineCounter<'_>) -> String {
    let mut line = |pos: &Option<csv::Position>| pos.as_ref().map_or(0, |p| lines.at(p.byte()));
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => format!(
            "line {}: {len} cells where the header has {expected_len}",
            line(pos)
        ),
        csv::ErrorKind::Utf8 { pos, .. } => format!("line {}: not UTF-8 text", line(pos)),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_items_and_empty_cells_change_nothing() {
        let text = "Case_ID, status ,Assignee,tags,fields.orderId,expectedVersion\n\
                    CASE-1,Under Review,,vip; billing,A-1,3\n\
                    \n\
                    \"CASE-2\",,bob,,,\n";
        let input = parse(text).unwrap();
        assert_eq!(input.lines, vec![2, 4]);
        let a = &input.items[0];
        assert_eq!(a.case_id, "CASE-1");
        assert_eq!(a.status.as_deref(), Some("Under Review"));
        assert_eq!(a.assignee, None);
        assert_eq!(a.tags, Some(vec!["vip".into(), "billing".into()]));
        assert_eq!(a.fields.as_ref().unwrap()["orderId"], "A-1");
        assert_eq!(a.expected_version, Some(3));
        let b = &input.items[1];
        assert_eq!(b.assignee, Some(Some("bob".into())));
        assert_eq!(b.status, None);
    }

    #[test]
    fn malformed_rows_name_their_line() {
        let err = parse("caseId,status\nA,Open\nB,Open,extra\n").unwrap_err();
        assert_eq!(err, "line 3: 3 cells where the header has 2");
        let err = parse("caseId,expectedVersion\nA,x\n").unwrap_err();
        assert_eq!(err, "line 2: expectedVersion 'x' is not a whole number");
        let err = parse("caseId,colour\nA,red\n").unwrap_err();
        assert!(err.starts_with("line 1: unknown column 'colour'"), "{err}");
        let err = parse("status\nOpen\n").unwrap_err();
        assert!(err.contains("no caseId column"), "{err}");
        let err = parse("caseId,status\n,Open\n").unwrap_err();
        assert_eq!(err, "line 2: the caseId cell is empty");
    }
}
