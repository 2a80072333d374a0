//! `docket check-consistency`: the seed's scenario against any docket server. Creates N
//! cases in `In Progress`, reads them all (so a cache holds them), bulk-updates them to
//! the target status, waits until the job reports `completed`, then reads every case at
//! once and counts the reads that still show the old status. Exit code 1 if any did.

use std::time::Instant;

use anyhow::Context as _;
use docket_api::{BulkItem, BulkOptions, BulkRequest, NewCase};
use docket_client::Client;

use crate::Global;
use crate::exit::input_error;
use futures_util::{StreamExt, TryStreamExt, stream};

/// Requests in flight at once.
const PARALLEL: usize = 16;

#[derive(clap::Args)]
pub struct Args {
    /// How many cases to create and move.
    #[arg(long, default_value_t = 100)]
    cases: usize,
    /// The status to move them to (from In Progress).
    #[arg(long, default_value = "Under Review")]
    status: String,
    /// Other nodes of the same cluster: every case is also read through each of them,
    /// before the job (to warm their caches) and after it (each read counts).
    #[arg(long, value_delimiter = ',')]
    read_from: Vec<String>,
}

/// What one run saw.
pub struct Report {
    pub stale: usize,
}

pub async fn run(args: Args, global: &Global) -> anyhow::Result<Report> {
    if args.cases == 0 {
        return Err(input_error("--cases must be at least 1"));
    }
    let client = super::client(global)?;
    let mut readers = vec![client.clone()];
    for url in &args.read_from {
        let node = Global {
            server: url.clone(),
            ..global.clone()
        };
        readers.push(super::client(&node)?);
    }
    let run = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis()
    );
    let ids: Vec<String> = (0..args.cases).map(|i| format!("CHK-{run}-{i}")).collect();

    println!(
        "creating {} cases in In Progress on {}",
        ids.len(),
        global.server
    );
    stream::iter(ids.clone())
        .map(|id| {
            let client = &client;
            async move {
                let new = NewCase {
                    case_id: Some(id),
                    title: Some("consistency check".into()),
                    status: Some("In Progress".into()),
                    ..Default::default()
                };
                client.create_case(&new).await.map(|_| ())
            }
        })
        .buffer_unordered(PARALLEL)
        .try_collect::<Vec<()>>()
        .await
        .context("creating the cases")?;
    // Read them all once on every node, as the seed's users did, so any cache holds the
    // old status.
    for reader in &readers {
        read_all(reader, &ids).await?;
    }

    let max = super::max_items(&client).await?;
    let started = Instant::now();
    let mut jobs = Vec::new();
    for chunk in ids.chunks(max.max(1)) {
        let updates = chunk
            .iter()
            .map(|id| BulkItem {
                case_id: id.clone(),
                status: Some(args.status.clone()),
                ..Default::default()
            })
            .collect();
        let req = BulkRequest {
            updates,
            options: BulkOptions::default(),
            ..BulkRequest::default()
        };
        let accepted = client
            .bulk_update(&req, None)
            .await
            .context("submitting the bulk update")?
            .body;
        jobs.push(accepted.job_id.context("the server returned no jobId")?);
    }
    let mut failed_items = 0;
    for job in &jobs {
        // Poll until completed; the server holds each poll until the job ends (long-poll).
        loop {
            let st = client.job_status(job, Some(30)).await?.body;
            if st.is_finished() {
                anyhow::ensure!(st.status == "completed", "job {job} ended {}", st.status);
                failed_items += st.failed;
                break;
            }
        }
    }
    let job_ms = started.elapsed().as_secs_f64() * 1000.0;

    let read_started = Instant::now();
    let mut statuses = Vec::with_capacity(ids.len() * readers.len());
    for reader in &readers {
        statuses.extend(read_all(reader, &ids).await?);
    }
    let read_ms = read_started.elapsed().as_secs_f64() * 1000.0;
    let stale = statuses
        .iter()
        .filter(|s| !s.eq_ignore_ascii_case(&args.status))
        .count();
    let reads = statuses.len();
    let pct = stale as f64 * 100.0 / reads as f64;

    println!("jobs:        {} ({})", jobs.len(), jobs.join(", "));
    println!("job time:    {job_ms:.1} ms from submit to completed");
    let nodes = if readers.len() == 1 {
        String::new()
    } else {
        format!(" on each of {} nodes", readers.len())
    };
    println!(
        "read time:   {read_ms:.1} ms to read all {} cases{nodes} ({PARALLEL} in parallel)",
        ids.len()
    );
    if failed_items > 0 {
        println!(
            "note:        {failed_items} items failed in the job (see its results); they count as stale"
        );
    }
    if stale == 0 {
        println!(
            "stale reads: 0 of {reads} (0.0%): every case read {} once the job was completed",
            args.status
        );
    } else {
        println!(
            "stale reads: {stale} of {reads} ({pct:.1}%) still showed the old status after the job reported completed"
        );
    }
    Ok(Report { stale })
}

async fn read_all(client: &Client, ids: &[String]) -> anyhow::Result<Vec<String>> {
    stream::iter(ids.iter().cloned())
        .map(|id| async move { client.get_case(&id).await.map(|r| r.body.status) })
        .buffered(PARALLEL)
        .try_collect()
        .await
        .context("reading the cases")
}
