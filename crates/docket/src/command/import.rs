//! `docket cases import FILE`: creates cases (or upserts them by `externalId`) as one
//! job from a JSON, NDJSON or CSV file, which the server reads and checks whole (the
//! client sends it as it reads it).

use anyhow::Context as _;
use docket_api::BulkCreateQuery;

use super::jobs::WaitArgs;
use crate::Global;
use crate::exit::{Exit, input_error};

#[derive(clap::Args)]
#[command(after_help = "\
FILE: a JSON array of cases (as `docket cases create` makes them: title, caseId,
description, status, statusReason, priority, assignee, tags, fields, externalId), NDJSON
(one case per line) or CSV (a header row of those names, tags separated by ;, fields.NAME
columns). The format goes by the extension (.json, .ndjson or .jsonl, .csv), else by the
content. A malformed line refuses the whole file, naming the line; nothing is created.

Exit codes: 0 all created or updated (or, without --wait, the job was stored), 1 some
items failed, 2 usage or input error, 3 server or network error, 4 stopped waiting.")]
pub struct Args {
    /// The file; `-` reads standard input.
    #[arg(value_name = "FILE|-")]
    file: String,
    /// `externalId`: a case whose externalId a case has already updates that case.
    #[arg(long, value_name = "FIELD", value_parser = ["externalId"])]
    upsert_by: Option<String>,
    /// Create nothing: report what each case would do.
    #[arg(long)]
    dry_run: bool,
    /// Refuse the job unless the file has exactly N cases.
    #[arg(long, value_name = "N")]
    expected_count: Option<u64>,
    /// Wait for the job to end, with a progress bar, and list the failed items.
    #[arg(long)]
    wait: bool,
    #[command(flatten)]
    wait_args: WaitArgs,
    /// Importing the same file with the same key again returns the original job.
    #[arg(long, value_name = "KEY")]
    idempotency_key: Option<String>,
}

/// The content type of a file, by its extension, else by its first character.
fn content_type(path: &str, body: &[u8]) -> &'static str {
    let lower = path.to_ascii_lowercase();
    if lower.ends_with(".csv") {
        return "text/csv";
    }
    if lower.ends_with(".ndjson") || lower.ends_with(".jsonl") {
        return "application/x-ndjson";
    }
    if lower.ends_with(".json") {
        return "application/json";
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(4096)]);
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    if first.starts_with('[') || (first.starts_with('{') && !first.ends_with('}')) {
        "application/json"
    } else if first.starts_with('{') {
        "application/x-ndjson"
    } else {
        "text/csv"
    }
}

pub async fn run(args: Args, global: &Global) -> anyhow::Result<Exit> {
    let source: Box<dyn std::io::Read + Send> = if args.file == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(&args.file)
                .map_err(|e| input_error(format!("cannot read {}: {e}", args.file)))?,
        )
    };
    let (head, body) =
        stream(source).map_err(|e| input_error(format!("cannot read {}: {e}", args.file)))?;
    let query = BulkCreateQuery {
        upsert_by: args.upsert_by.clone(),
        dry_run: args.dry_run.then_some(true),
        expected_count: args.expected_count,
        ..BulkCreateQuery::default()
    };
    let client = super::client(global)?;
    let ct = content_type(&args.file, &head);
    let reply = client
        .bulk_create(ct, body, &query, args.idempotency_key.as_deref())
        .await
        .with_context(|| format!("importing {}", args.file))?;
    super::bulk::follow(&client, global, reply.body, args.wait, args.wait_args).await
}

/// The file's first bytes (to tell its format by), and the whole file as a body that
/// reads it while it is sent, 64 KiB at a time (a thread reads, a few reads ahead), so
/// a file of any size costs the client a few buffers, not its size.
fn stream(
    mut source: Box<dyn std::io::Read + Send>,
) -> std::io::Result<(Vec<u8>, docket_client::Body)> {
    use futures_util::StreamExt as _;
    let mut head = vec![0; 4096];
    let mut n = 0;
    while n < head.len() {
        match source.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    head.truncate(n);
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(4);
    std::thread::spawn(move || {
        loop {
            let mut buf = vec![0; 64 * 1024];
            let read = match source.read(&mut buf) {
                Ok(0) => return,
                Ok(k) => {
                    buf.truncate(k);
                    Ok(buf)
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => Err(e),
            };
            let failed = read.is_err();
            if tx.blocking_send(read).is_err() || failed {
                return;
            }
        }
    });
    let rest = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let first = futures_util::stream::iter([Ok(head.clone())]);
    Ok((head, docket_client::Body::wrap_stream(first.chain(rest))))
}
