//! `docket bulk-update FILE|-`: reads a whole input file (nothing is sent if any of it
//! is malformed), submits it as one job, or as several when it has more items than the
//! server's `Jobs.MaxItemsPerRequest` (or a request is refused as too large), then
//! optionally waits for them all and reports them together.
//!
//! `docket bulk-update --filter K=V... --set K=V... --tags-add T...`: one job over every
//! case the filter matches when the server stores it (no ids pass through the client).
//!
//! With `--idempotency-key K`, a single job is sent with `K`, and the jobs of a split
//! file with `K/<first>-<last>` (item positions), so running the same command again
//! returns the same jobs instead of creating new ones.

use std::time::Duration;

use anyhow::Context as _;
use docket_api::{BulkFilter, BulkOptions, BulkRequest, BulkSet, JobStatus, codes};
use docket_client::{Client, Error as ClientError};

use super::jobs::WaitArgs;
use super::summary::{self, Origin};
use crate::Global;
use crate::exit::{Exit, input_error};
use crate::input::{self, InputFormat};
use crate::output::status_table;
use crate::output::{self, Format};
use crate::wait;

#[derive(clap::Args)]
#[command(after_help = "\
Input: a JSON array of items, the API's {\"updates\": [...], \"options\": {...}} object,
NDJSON (one item per line), or CSV whose first line names the columns:
  caseId (required), status, statusReason, priority, assignee, tags (separated by ;),
  expectedVersion, fields.NAME (text). An empty cell leaves that attribute as it is.
Example CSV:
  caseId,status,assignee
  CASE-000002,Under Review,bob

By filter (no FILE): --filter takes the case list's filters (status, assignee, tag, q,
updatedSince, updatedBefore), each must hold; --set takes status, statusReason, priority,
assignee and fields.NAME (an empty value clears statusReason or assignee). Example:
  docket bulk-update --filter 'status=In Progress' --filter tag=vip \
      --set status='Under Review' --tags-add triaged --comment 'Moved for review' --dry-run --wait

Exit codes: 0 all items succeeded (or, without --wait, the jobs were stored), 1 some
items failed (listed with their codes and lines), 2 usage or input error (nothing sent),
3 server or network error, 4 stopped waiting (the jobs keep running).")]
pub struct Args {
    /// The input file; `-` reads standard input. Not with --filter.
    #[arg(value_name = "FILE|-", required_unless_present = "filter")]
    file: Option<String>,
    /// Update every case matching KEY=VALUE (repeatable: all must hold).
    #[arg(long, value_name = "KEY=VALUE", conflicts_with = "file")]
    filter: Vec<String>,
    /// With --filter: set KEY=VALUE on each matching case (repeatable).
    #[arg(long, value_name = "KEY=VALUE", requires = "filter")]
    set: Vec<String>,
    /// With --filter: add this tag to each matching case (repeatable).
    #[arg(long, value_name = "TAG", requires = "filter")]
    tags_add: Vec<String>,
    /// With --filter: remove this tag from each matching case (repeatable).
    #[arg(long, value_name = "TAG", requires = "filter")]
    tags_remove: Vec<String>,
    /// Add this comment to each case the job changes, with its change (an internal note
    /// unless --public); with a file, to every item.
    #[arg(long, value_name = "TEXT")]
    comment: Option<String>,
    /// With --comment: a public comment instead of an internal note.
    #[arg(long, requires = "comment")]
    public: bool,
    /// Refuse the job (409 count_mismatch, nothing created) unless exactly N cases
    /// match (or the file has N items).
    #[arg(long, value_name = "N")]
    expected_count: Option<u64>,
    /// Change nothing: report what each item would do.
    #[arg(long)]
    dry_run: bool,
    /// The input's format (auto: by extension, then by content).
    #[arg(long, value_enum, default_value_t = InputFormat::Auto)]
    format: InputFormat,
    /// Wait for the jobs to end, with a progress bar, and list the failed items.
    #[arg(long)]
    wait: bool,
    #[command(flatten)]
    wait_args: WaitArgs,
    /// POSTed to (signed) when each job ends.
    #[arg(long, value_name = "URL")]
    callback_url: Option<String>,
    /// All or nothing: one failed item fails the job and none is applied. The input
    /// must then fit in one request.
    #[arg(long)]
    atomic: bool,
    /// Submitting the same file with the same key again returns the original job(s).
    #[arg(long, value_name = "KEY")]
    idempotency_key: Option<String>,
}

/// `KEY=VALUE` of `--flag`.
fn pair(flag: &str, kv: &str) -> anyhow::Result<(String, String)> {
    kv.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .ok_or_else(|| input_error(format!("--{flag} {kv}: expected KEY=VALUE")))
}

/// The filter of `--filter KEY=VALUE...`: the case list's filters.
pub fn parse_filter(pairs: &[String]) -> anyhow::Result<BulkFilter> {
    let mut filter = BulkFilter::default();
    for kv in pairs {
        let (k, v) = pair("filter", kv)?;
        let slot = match k.as_str() {
            "status" => &mut filter.status,
            "assignee" => &mut filter.assignee,
            "tag" => &mut filter.tag,
            "q" => &mut filter.q,
            "updatedSince" => &mut filter.updated_since,
            "updatedBefore" => &mut filter.updated_before,
            "externalId" => &mut filter.external_id,
            _ => {
                return Err(input_error(format!(
                    "--filter {k}: not a filter (status, assignee, tag, q, updatedSince, updatedBefore, externalId)"
                )));
            }
        };
        *slot = Some(v);
    }
    Ok(filter)
}

/// The filter and `set` of `--filter`, `--set`, `--tags-add` and `--tags-remove`.
fn by_filter(args: &Args) -> anyhow::Result<(BulkFilter, BulkSet)> {
    let filter = parse_filter(&args.filter)?;
    let mut set = BulkSet::default();
    let cleared = |v: String| if v.is_empty() { None } else { Some(v) };
    for kv in &args.set {
        let (k, v) = pair("set", kv)?;
        match k.as_str() {
            "status" => set.status = Some(v),
            "priority" => set.priority = Some(v),
            "statusReason" => set.status_reason = Some(cleared(v)),
            "assignee" => set.assignee = Some(cleared(v)),
            field => match field.strip_prefix("fields.") {
                Some(name) if !name.is_empty() => {
                    set.fields
                        .get_or_insert_with(Default::default)
                        .insert(name.to_owned(), serde_json::Value::String(v));
                }
                _ => {
                    return Err(input_error(format!(
                        "--set {k}: not settable (status, statusReason, priority, assignee, fields.NAME)"
                    )));
                }
            },
        }
    }
    if !args.tags_add.is_empty() {
        set.tags_add = Some(args.tags_add.clone());
    }
    if !args.tags_remove.is_empty() {
        set.tags_remove = Some(args.tags_remove.clone());
    }
    set.comment = comment(args);
    Ok((filter, set))
}

/// The comment of `--comment` (and `--public`).
fn comment(args: &Args) -> Option<docket_api::NewComment> {
    args.comment.as_ref().map(|text| docket_api::NewComment {
        body: Some(text.clone()),
        visibility: Some(if args.public { "public" } else { "internal" }.into()),
    })
}

/// `--filter`: one job over the matching cases, then as for a file.
async fn run_by_filter(args: Args, global: &Global) -> anyhow::Result<Exit> {
    let (filter, set) = by_filter(&args)?;
    let options = BulkOptions {
        return_job_id: true,
        atomic: args.atomic,
        callback_url: args.callback_url.clone(),
        dry_run: args.dry_run,
        expected_count: args.expected_count,
        ..BulkOptions::default()
    };
    let req = BulkRequest {
        filter: Some(filter),
        set: Some(set),
        options,
        ..BulkRequest::default()
    };
    let client = super::client(global)?;
    let reply = client
        .bulk_update(&req, args.idempotency_key.as_deref())
        .await
        .context("submitting the bulk update")?;
    follow(&client, global, reply.body, args.wait, args.wait_args).await
}

/// A job just stored (`accepted`): its status printed, or, with `wait`, followed to its
/// end and reported (`bulk-update --filter`, `cases bulk-delete`, `cases import`).
pub async fn follow(
    client: &Client,
    global: &Global,
    accepted: docket_api::BulkAccepted,
    wait: bool,
    wait_args: WaitArgs,
) -> anyhow::Result<Exit> {
    let job_id = accepted
        .job_id
        .ok_or_else(|| anyhow::anyhow!("the server returned no jobId"))?;
    let job = client
        .job_status(&job_id, None)
        .await
        .with_context(|| format!("reading the status of {job_id}"))?
        .body;
    if !wait {
        print_submitted(global, &[job])?;
        return Ok(Exit::Success);
    }
    let waited = wait::wait(
        client,
        vec![job],
        Duration::from_secs(wait_args.timeout),
        wait_args.wait_method,
    )
    .await;
    summary::report(client, global, waited, None).await
}

pub async fn run(args: Args, global: &Global) -> anyhow::Result<Exit> {
    let Some(file) = args.file.clone() else {
        return run_by_filter(args, global).await;
    };
    let mut input = input::read(&file, args.format)?;
    if let Some(c) = comment(&args) {
        for item in &mut input.items {
            item.comment = Some(c.clone());
        }
    }
    let mut options = input.options.clone().unwrap_or_default();
    // The CLI does the waiting; the request only stores the job and returns its id.
    options.wait_for_completion = false;
    options.return_job_id = true;
    if args.atomic {
        options.atomic = true;
    }
    if args.callback_url.is_some() {
        options.callback_url = args.callback_url.clone();
    }
    if args.dry_run {
        options.dry_run = true;
    }
    if args.expected_count.is_some() {
        options.expected_count = args.expected_count;
    }
    let client = super::client(global)?;
    let max = super::max_items(&client).await?;
    if options.atomic && input.items.len() > max {
        return Err(input_error(format!(
            "an atomic update must fit in one request: {} items, and the server takes at most {max} (Jobs.MaxItemsPerRequest)",
            input.items.len()
        )));
    }
    let submitted = submit(
        &client,
        &input,
        &options,
        max,
        args.idempotency_key.as_deref(),
    )
    .await?;
    let starts: Vec<usize> = submitted.iter().map(|s| s.start).collect();
    let mut jobs = Vec::with_capacity(submitted.len());
    for s in &submitted {
        jobs.push(
            client
                .job_status(&s.job_id, None)
                .await
                .with_context(|| format!("reading the status of {}", s.job_id))?
                .body,
        );
    }
    if !args.wait {
        print_submitted(global, &jobs)?;
        return Ok(Exit::Success);
    }
    let waited = wait::wait(
        &client,
        jobs,
        Duration::from_secs(args.wait_args.timeout),
        args.wait_args.wait_method,
    )
    .await;
    let origin = Origin {
        starts,
        lines: &input.lines,
    };
    summary::report(&client, global, waited, Some(origin)).await
}

/// A job created from items `start..start + len` of the input.
struct Submitted {
    job_id: String,
    start: usize,
}

/// Sends the items in requests of at most `max`; a request refused as too large (the
/// item limit changed, or the body is over the server's byte limit) is split in two.
async fn submit(
    client: &Client,
    input: &input::Input,
    options: &BulkOptions,
    max: usize,
    key: Option<&str>,
) -> anyhow::Result<Vec<Submitted>> {
    let n = input.items.len();
    let mut size = max.min(n);
    let mut split = n > size;
    let mut out: Vec<Submitted> = Vec::new();
    let mut start = 0;
    while start < n {
        let end = (start + size).min(n);
        let req = BulkRequest {
            updates: input.items[start..end].to_vec(),
            options: options.clone(),
            ..BulkRequest::default()
        };
        let chunk_key = key.map(|k| {
            if split {
                format!("{k}/{}-{}", start + 1, end)
            } else {
                k.to_owned()
            }
        });
        match client.bulk_update(&req, chunk_key.as_deref()).await {
            Ok(reply) => {
                let job_id = reply
                    .body
                    .job_id
                    .ok_or_else(|| anyhow::anyhow!("the server returned no jobId"))?;
                if n > end || start > 0 {
                    eprintln!(
                        "submitted {job_id}: items {}-{end} of {n} (lines {}-{})",
                        start + 1,
                        input.lines[start],
                        input.lines[end - 1]
                    );
                }
                out.push(Submitted { job_id, start });
                start = end;
            }
            Err(ClientError::Api(p))
                if p.code == codes::PAYLOAD_TOO_LARGE && end - start > 1 && !options.atomic =>
            {
                size = (end - start).div_ceil(2);
                split = true;
            }
            Err(e) => {
                let mut err = anyhow::Error::new(e).context(format!(
                    "submitting items {}-{end} (lines {}-{})",
                    start + 1,
                    input.lines[start],
                    input.lines[end - 1]
                ));
                if !out.is_empty() {
                    let ids: Vec<String> = out.iter().map(|s| s.job_id.clone()).collect();
                    err = err.context(format!(
                        "{} job(s) were submitted before the error and run: {}",
                        ids.len(),
                        ids.join(", ")
                    ));
                }
                return Err(err);
            }
        }
    }
    Ok(out)
}

/// Without `--wait`: the stored jobs (JSON: `{"jobs": [<job status>]}`).
fn print_submitted(global: &Global, jobs: &[JobStatus]) -> anyhow::Result<()> {
    match global.output {
        Format::Json => output::json(&serde_json::json!({ "jobs": jobs })),
        Format::Table => {
            status_table(jobs).print();
            let ids: Vec<String> = jobs.iter().map(|j| j.job_id.clone()).collect();
            eprintln!("follow with: {}", super::watch_hint(global, &ids));
            Ok(())
        }
    }
}
