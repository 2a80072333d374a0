//! What commands print on stdout: aligned tables for people, JSON for scripts.
//!
//! JSON output is one document per command, pretty-printed, with the API's camelCase
//! field names; its shape does not depend on whether stdout is a terminal.

use std::io::Write as _;

use docket_api::JobStatus;
use serde::Serialize;

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// Prints `value` as JSON on stdout.
pub fn json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    Ok(())
}

/// Rows under a header, columns padded to their widest cell; the last column is not
/// padded, so long text (titles, details) runs on.
pub struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&'static str]) -> Self {
        Self {
            header: header.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn render(&self) -> String {
        let cols = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(cols) {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
        let mut out = String::new();
        let header: Vec<String> = self.header.iter().map(|h| (*h).to_owned()).collect();
        for r in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for (i, c) in r.iter().enumerate().take(cols) {
                if i + 1 == cols {
                    line.push_str(c);
                } else {
                    line.push_str(&format!("{c:<w$}  ", w = widths[i]));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    pub fn print(&self) {
        print!("{}", self.render());
    }
}

/// `key: value` lines, keys aligned.
pub fn fields(pairs: &[(&str, String)]) {
    let w = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in pairs {
        println!("{:<w$}  {v}", format!("{k}:"), w = w + 1);
    }
}

/// An optional value as a cell: `-` when absent.
pub fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// A duration in milliseconds, for people.
pub fn millis(ms: Option<u64>) -> String {
    match ms {
        None => "-".into(),
        Some(ms) if ms < 1000 => format!("{ms} ms"),
        Some(ms) => format!("{:.1} s", ms as f64 / 1000.0),
    }
}

/// One row per job.
pub fn status_table(jobs: &[JobStatus]) -> Table {
    let mut t = Table::new(&[
        "JOB",
        "STATUS",
        "OUTCOME",
        "PROCESSED",
        "SUCCEEDED",
        "FAILED",
        "CANCELLED",
        "TIME",
        "CREATED",
    ]);
    for j in jobs {
        let status = match j.queue_position {
            Some(p) if j.status == "queued" => format!("queued (#{p})"),
            _ => j.status.clone(),
        };
        t.row(vec![
            j.job_id.clone(),
            status,
            opt(j.outcome.as_deref()),
            format!("{}/{}", j.processed, j.total),
            j.succeeded.to_string(),
            j.failed.to_string(),
            j.cancelled.to_string(),
            millis(j.duration_ms),
            j.created_at.clone(),
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_the_last_runs_on() {
        let mut t = Table::new(&["A", "LONG HEADER", "TEXT"]);
        t.row(vec!["x".into(), "1".into(), "some words".into()]);
        t.row(vec!["yyyy".into(), "22".into(), "".into()]);
        assert_eq!(
            t.render(),
            "A     LONG HEADER  TEXT\nx     1            some words\nyyyy  22\n"
        );
    }
}
