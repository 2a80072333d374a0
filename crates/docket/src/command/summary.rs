//! The report after waiting for jobs: each job's end, the totals, every failed item
//! with its code, and the exit code that sums it up.
//!
//! JSON shape (`--output json`), stable:
//! `{"finished", "total", "succeeded", "failed", "cancelled", "jobs": [<job status>],
//!   "failures": [{"jobId", "index", "line"?, "caseId", "code", "detail"}]}`
//! where `index` is the item's position in the input (across split jobs) and `line` its
//! line in the input file, when there was one.

use anyhow::Context as _;
use docket_api::{JobStatus, ResultsQuery};
use docket_client::Client;
use serde::Serialize;

use crate::Global;
use crate::exit::Exit;
use crate::output::{self, Format, Table};
use crate::wait::{End, Waited};

/// Failed items shown in a table; the JSON output has them all.
const TABLE_FAILURES: usize = 50;

/// Where a job's items came from: job `k`'s item `i` is input item `starts[k] + i`, on
/// line `lines[starts[k] + i]`.
pub struct Origin<'a> {
    pub starts: Vec<usize>,
    pub lines: &'a [usize],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report<'a> {
    finished: bool,
    total: u64,
    succeeded: u64,
    failed: u64,
    cancelled: u64,
    jobs: &'a [JobStatus],
    failures: Vec<Failure>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Failure {
    job_id: String,
    index: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    case_id: String,
    code: String,
    detail: String,
}

/// Prints the report of a wait and returns its exit code.
pub async fn report(
    client: &Client,
    global: &Global,
    waited: Waited,
    origin: Option<Origin<'_>>,
) -> anyhow::Result<Exit> {
    let Waited { jobs, end } = waited;
    if let End::Lost(e) = end {
        return Err(e).context("following the jobs");
    }
    let finished = matches!(end, End::Finished);
    let failures = if finished {
        failures(client, &jobs, origin.as_ref()).await?
    } else {
        Vec::new()
    };
    let report = Report {
        finished,
        total: jobs.iter().map(|j| j.total).sum(),
        succeeded: jobs.iter().map(|j| j.succeeded).sum(),
        failed: jobs.iter().map(|j| j.failed).sum(),
        cancelled: jobs.iter().map(|j| j.cancelled).sum(),
        jobs: &jobs,
        failures,
    };
    match global.output {
        Format::Json => output::json(&report)?,
        Format::Table => print_table(&report),
    }
    let ids: Vec<String> = jobs.iter().map(|j| j.job_id.clone()).collect();
    let hint = crate::command::watch_hint(global, &ids);
    Ok(match end {
        End::Finished => {
            let clean = jobs
                .iter()
                .all(|j| j.status == "completed" && j.failed == 0 && j.cancelled == 0);
            if clean {
                Exit::Success
            } else {
                Exit::ItemsFailed
            }
        }
        End::Interrupted => {
            eprintln!(
                "stopped waiting; the jobs keep running on the server. Resume with:\n  {hint}"
            );
            Exit::StoppedWaiting
        }
        End::TimedOut { unreachable: None } => {
            eprintln!(
                "timed out waiting; the jobs keep running on the server. Resume with:\n  {hint}"
            );
            Exit::StoppedWaiting
        }
        End::TimedOut {
            unreachable: Some(why),
        } => {
            eprintln!(
                "error: gave up waiting: {why}\nthe jobs are stored on the server; once it is back:\n  {hint}"
            );
            Exit::Server
        }
        End::Lost(_) => Exit::Server,
    })
}

/// Every failed item of every job, in input order.
async fn failures(
    client: &Client,
    jobs: &[JobStatus],
    origin: Option<&Origin<'_>>,
) -> anyhow::Result<Vec<Failure>> {
    let mut out = Vec::new();
    for (k, job) in jobs.iter().enumerate() {
        if job.failed == 0 {
            continue;
        }
        let mut q = ResultsQuery {
            outcome: Some("failed".into()),
            cursor: None,
            limit: Some(1000),
        };
        loop {
            let page = client
                .job_results(&job.job_id, &q)
                .await
                .with_context(|| format!("reading the failed items of {}", job.job_id))?;
            for r in page.items {
                let (index, line) = match origin {
                    Some(o) => {
                        let at = o.starts[k] + r.index as usize;
                        (at as u64, o.lines.get(at).copied())
                    }
                    None => (r.index, None),
                };
                let (code, detail) = r.error.map_or_else(
                    || ("unknown".to_owned(), String::new()),
                    |e| (e.code, e.detail),
                );
                out.push(Failure {
                    job_id: job.job_id.clone(),
                    index,
                    line,
                    case_id: r.case_id,
                    code,
                    detail,
                });
            }
            match page.next_cursor {
                Some(c) => q.cursor = Some(c),
                None => break,
            }
        }
    }
    Ok(out)
}

fn print_table(r: &Report<'_>) {
    crate::output::status_table(r.jobs).print();
    let dry = r.jobs.iter().any(|j| j.dry_run);
    let mut totals = if dry {
        format!(
            "dry run, nothing changed: {} items: {} would succeed, {} would fail",
            r.total, r.succeeded, r.failed
        )
    } else {
        format!(
            "{} items: {} succeeded, {} failed",
            r.total, r.succeeded, r.failed
        )
    };
    if r.cancelled > 0 {
        totals.push_str(&format!(", {} cancelled", r.cancelled));
    }
    if !r.finished {
        let processed: u64 = r.jobs.iter().map(|j| j.processed).sum();
        totals.push_str(&format!(" so far ({} of {} processed)", processed, r.total));
    }
    println!("{totals}");
    if r.failures.is_empty() {
        return;
    }
    println!("\nfailed items:");
    let with_lines = r.failures.iter().any(|f| f.line.is_some());
    let mut t = if with_lines {
        Table::new(&["LINE", "CASE", "CODE", "DETAIL"])
    } else {
        Table::new(&["JOB", "INDEX", "CASE", "CODE", "DETAIL"])
    };
    for f in r.failures.iter().take(TABLE_FAILURES) {
        let mut row = if with_lines {
            vec![output::opt(f.line)]
        } else {
            vec![f.job_id.clone(), f.index.to_string()]
        };
        row.extend([f.case_id.clone(), f.code.clone(), f.detail.clone()]);
        t.row(row);
    }
    t.print();
    if r.failures.len() > TABLE_FAILURES {
        let jobs: Vec<&str> = r
            .jobs
            .iter()
            .filter(|j| j.failed > 0)
            .map(|j| j.job_id.as_str())
            .collect();
        println!(
            "... and {} more (all of them: --output json, or docket jobs results {} --outcome failed --all)",
            r.failures.len() - TABLE_FAILURES,
            jobs.join(" / ")
        );
    }
}
