//! `docket cases bulk-delete (FILE | --filter K=V...)`: deletes cases as one job, named
//! by a file of ids or by a filter the server applies when it stores the job.

use anyhow::Context as _;
use docket_api::{BulkDeleteRequest, BulkOptions};

use super::jobs::WaitArgs;
use crate::Global;
use crate::exit::{Exit, input_error};

#[derive(clap::Args)]
#[command(after_help = "\
FILE: one case id per line (blank lines and # comments skipped), or a CSV (or any
bulk-update input file) with a caseId column; `-` reads standard input.
--filter takes the case list's filters (status, assignee, tag, q, updatedSince,
updatedBefore); every one given must hold. Each deleted case goes with its tasks and
history; a bulk delete cannot be reverted, so try --dry-run and --expected-count first.

Exit codes: 0 all deleted (or, without --wait, the job was stored), 1 some items failed,
2 usage or input error (nothing sent), 3 server or network error, 4 stopped waiting.")]
pub struct Args {
    /// The file of ids; `-` reads standard input. Not with --filter.
    #[arg(value_name = "FILE|-", required_unless_present = "filter")]
    file: Option<String>,
    /// Delete every case matching KEY=VALUE (repeatable: all must hold).
    #[arg(long, value_name = "KEY=VALUE", conflicts_with = "file")]
    filter: Vec<String>,
    /// Refuse the job (409 count_mismatch, nothing created) unless exactly N cases are
    /// named or match.
    #[arg(long, value_name = "N")]
    expected_count: Option<u64>,
    /// Delete nothing: report which cases would be deleted and which do not exist.
    #[arg(long)]
    dry_run: bool,
    /// Wait for the job to end, with a progress bar, and list the failed items.
    #[arg(long)]
    wait: bool,
    #[command(flatten)]
    wait_args: WaitArgs,
    /// Submitting the same request with the same key again returns the original job.
    #[arg(long, value_name = "KEY")]
    idempotency_key: Option<String>,
}

pub async fn run(args: Args, global: &Global) -> anyhow::Result<Exit> {
    let (case_ids, filter) = match &args.file {
        Some(f) => (super::refresh::ids_from_file(f)?, None),
        None => (Vec::new(), Some(super::bulk::parse_filter(&args.filter)?)),
    };
    if filter.is_none() && case_ids.is_empty() {
        return Err(input_error("the file names no case"));
    }
    let req = BulkDeleteRequest {
        case_ids,
        filter,
        options: BulkOptions {
            dry_run: args.dry_run,
            expected_count: args.expected_count,
            ..BulkOptions::default()
        },
    };
    let client = super::client(global)?;
    let reply = client
        .bulk_delete(&req, args.idempotency_key.as_deref())
        .await
        .context("submitting the bulk delete")?;
    super::bulk::follow(&client, global, reply.body, args.wait, args.wait_args).await
}
