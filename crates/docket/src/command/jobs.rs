//! `docket jobs`: status, watch, list, results, cancel, retry-failed.

use std::time::Duration;

use clap::Subcommand;
use docket_api::{JobQuery, ResultsQuery};
use docket_client::Client;

use super::summary;
use crate::Global;
use crate::exit::Exit;
use crate::output::status_table;
use crate::output::{self, Format, Table};
use crate::wait::{self, WaitMethod};

#[derive(Subcommand)]
pub enum Command {
    /// A job's status now (or, with --wait-seconds, when it ends or that time passes).
    Status {
        job: String,
        /// Long-poll: answer as soon as the job ends, or after this many seconds.
        #[arg(long, value_name = "SECONDS")]
        wait_seconds: Option<u32>,
    },
    /// Follow jobs with a progress bar until they end, then list the failed items.
    /// Exit 0 all succeeded, 1 some failed, 4 stopped waiting (timeout or Ctrl-C).
    Watch {
        #[arg(required = true, value_name = "JOB")]
        jobs: Vec<String>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// List jobs, newest first.
    List {
        /// Only jobs in this state: queued, running, completed, failed, cancelled.
        #[arg(long)]
        status: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Per-item outcomes of a job, with error codes.
    Results {
        job: String,
        /// Only items with this outcome: succeeded, failed, cancelled.
        #[arg(long)]
        outcome: Option<String>,
        /// Every result, streamed in index order as CSV or NDJSON (no paging).
        #[arg(long, value_enum)]
        format: Option<ExportFormat>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Stop a job between chunks; applied items stay applied, the rest end cancelled.
    Cancel { job: String },
    /// Undo what a finished job changed, as a new job: every field it changed goes back
    /// to its value before it, on each case not changed since.
    Revert {
        job: String,
        /// Wait for the revert to end (as `docket jobs watch`).
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        wait_args: WaitArgs,
    },
    /// Submit the failed items of a finished job again, as a new job.
    RetryFailed {
        job: String,
        /// Wait for the new job to end (as `docket jobs watch`).
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        wait_args: WaitArgs,
    },
}

/// The formats of `jobs results --format`.
#[derive(clap::ValueEnum, Clone, Copy)]
pub enum ExportFormat {
    Csv,
    Ndjson,
}

/// How to wait.
#[derive(clap::Args, Clone, Copy)]
pub struct WaitArgs {
    /// Stop waiting after this many seconds (the jobs keep running; exit 4).
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub timeout: u64,
    /// How to follow the jobs: the event stream with fallbacks (auto), or only one way.
    #[arg(long, value_enum, default_value_t = WaitMethod::Auto)]
    pub wait_method: WaitMethod,
}

/// Paging of a listing.
#[derive(clap::Args, Clone)]
pub struct PageArgs {
    /// Items per page.
    #[arg(long)]
    pub limit: Option<u32>,
    /// Start at this cursor (printed after a page that has more).
    #[arg(long, conflicts_with = "all")]
    pub cursor: Option<String>,
    /// Every page, not just the first.
    #[arg(long)]
    pub all: bool,
}

pub async fn run(cmd: Command, global: &Global) -> anyhow::Result<Exit> {
    let client = super::client(global)?;
    match cmd {
        Command::Status { job, wait_seconds } => {
            let st = client.job_status(&job, wait_seconds).await?.body;
            match global.output {
                Format::Json => output::json(&st)?,
                Format::Table => status_table(std::slice::from_ref(&st)).print(),
            }
            Ok(Exit::Success)
        }
        Command::Watch { jobs, wait } => watch(&client, global, &jobs, wait).await,
        Command::List { status, page } => {
            let mut q = JobQuery {
                status,
                cursor: page.cursor.clone(),
                limit: page.limit,
            };
            let mut items = Vec::new();
            let next = loop {
                let p = client.list_jobs(&q).await?;
                items.extend(p.items);
                match p.next_cursor {
                    Some(c) if page.all => q.cursor = Some(c),
                    other => break other,
                }
            };
            print_page(global, &items, next, status_table)
        }
        Command::Results {
            job,
            outcome,
            format: Some(format),
            page,
        } => {
            let accept = match format {
                ExportFormat::Csv => "text/csv",
                ExportFormat::Ndjson => "application/x-ndjson",
            };
            let mut res = client
                .export_results(&job, (outcome.as_deref(), page.cursor.as_deref()), accept)
                .await?;
            let mut out = std::io::stdout().lock();
            while let Some(chunk) = res.chunk().await? {
                std::io::Write::write_all(&mut out, &chunk)?;
            }
            std::io::Write::flush(&mut out)?;
            Ok(Exit::Success)
        }
        Command::Results {
            job, outcome, page, ..
        } => {
            let mut q = ResultsQuery {
                outcome,
                cursor: page.cursor.clone(),
                limit: page.limit.or(page.all.then_some(1000)),
            };
            let mut items = Vec::new();
            let next = loop {
                let p = client.job_results(&job, &q).await?;
                items.extend(p.items);
                match p.next_cursor {
                    Some(c) if page.all => q.cursor = Some(c),
                    other => break other,
                }
            };
            print_page(global, &items, next, |items| {
                let mut t = Table::new(&["INDEX", "CASE", "OUTCOME", "VERSION", "CODE", "DETAIL"]);
                for r in items {
                    let (code, detail) =
                        r.error.as_ref().map_or(("-".into(), String::new()), |e| {
                            (e.code.clone(), e.detail.clone())
                        });
                    t.row(vec![
                        r.index.to_string(),
                        r.case_id.clone(),
                        r.outcome.clone(),
                        output::opt(r.version),
                        code,
                        detail,
                    ]);
                }
                t
            })
        }
        Command::Cancel { job } => {
            let st = client.cancel_job(&job).await?.body;
            match global.output {
                Format::Json => output::json(&st)?,
                Format::Table => status_table(std::slice::from_ref(&st)).print(),
            }
            Ok(Exit::Success)
        }
        Command::RetryFailed {
            job,
            wait,
            wait_args,
        } => {
            let accepted = client.retry_failed(&job).await?.body;
            new_job(&client, global, accepted, wait, wait_args).await
        }
        Command::Revert {
            job,
            wait,
            wait_args,
        } => {
            let accepted = client.revert_job(&job).await?.body;
            new_job(&client, global, accepted, wait, wait_args).await
        }
    }
}

/// A job made from another (a retry, a revert): waited for, or its status printed.
async fn new_job(
    client: &Client,
    global: &Global,
    accepted: docket_api::BulkAccepted,
    wait: bool,
    wait_args: WaitArgs,
) -> anyhow::Result<Exit> {
    let id = accepted
        .job_id
        .ok_or_else(|| anyhow::anyhow!("the server returned no jobId for the new job"))?;
    if wait {
        return watch(client, global, &[id], wait_args).await;
    }
    let st = client.job_status(&id, None).await?.body;
    match global.output {
        Format::Json => output::json(&st)?,
        Format::Table => {
            status_table(std::slice::from_ref(&st)).print();
            eprintln!("follow it with: {}", super::watch_hint(global, &[id]));
        }
    }
    Ok(Exit::Success)
}

/// Waits for `ids` and reports (no input file: failures are named by job and index).
pub async fn watch(
    client: &Client,
    global: &Global,
    ids: &[String],
    wait: WaitArgs,
) -> anyhow::Result<Exit> {
    let mut jobs = Vec::with_capacity(ids.len());
    for id in ids {
        jobs.push(client.job_status(id, None).await?.body);
    }
    let waited = wait::wait(
        client,
        jobs,
        Duration::from_secs(wait.timeout),
        wait.wait_method,
    )
    .await;
    summary::report(client, global, waited, None).await
}

/// A listing: `{"items", "nextCursor"}` as JSON, else the table and a hint for the next
/// page on stderr.
pub fn print_page<T: serde::Serialize>(
    global: &Global,
    items: &[T],
    next: Option<String>,
    table: impl Fn(&[T]) -> Table,
) -> anyhow::Result<Exit> {
    match global.output {
        Format::Json => output::json(&serde_json::json!({"items": items, "nextCursor": next}))?,
        Format::Table => {
            let t = table(items);
            if t.is_empty() {
                eprintln!("(none)");
            } else {
                t.print();
            }
            if let Some(c) = next {
                eprintln!("more: add --cursor {c} (or --all)");
            }
        }
    }
    Ok(Exit::Success)
}
