//! `docket changes`: the change feed, every committed change in commit order; one line
//! per change. `--follow` tails the event stream and, when the connection drops,
//! reconnects after the last change it printed, so nothing is printed twice or missed.

use std::io::Write as _;
use std::time::Duration;

use docket_api::{Change, ChangeStreamQuery, ChangesQuery};

use crate::Global;
use crate::exit::Exit;
use crate::output::Format;

#[derive(clap::Args)]
pub struct Args {
    /// Start after this position (a change's `position`, or `now`); default: the
    /// oldest change kept.
    #[arg(long, value_name = "POSITION")]
    after: Option<String>,
    /// Keep printing changes as they commit (until Ctrl-C).
    #[arg(long)]
    follow: bool,
    /// Only this type (repeat, or separate with commas): case.created, case.updated,
    /// case.deleted, task.created, task.updated, comment.created, comment.updated,
    /// comment.deleted, job.completed, job.failed, job.cancelled.
    #[arg(long = "type", value_name = "TYPE", value_delimiter = ',')]
    types: Vec<String>,
    /// Only this case's changes.
    #[arg(long = "case", value_name = "CASE")]
    case_id: Option<String>,
}

/// How long `--follow` waits before reconnecting, at most.
const RECONNECT_MAX: Duration = Duration::from_secs(10);

pub async fn run(args: Args, global: &Global) -> anyhow::Result<Exit> {
    let client = super::client(global)?;
    let types = (!args.types.is_empty()).then(|| args.types.join(","));
    if !args.follow {
        let mut q = ChangesQuery {
            after: args.after,
            limit: Some(1000),
            types,
            case_id: args.case_id,
            wait_seconds: None,
        };
        loop {
            let page = client.list_changes(&q).await?;
            if page.items.is_empty() {
                return Ok(Exit::Success);
            }
            for c in &page.items {
                print(global, c)?;
            }
            q.after = Some(page.next_after);
        }
    }
    // `now` is fixed once, so a reconnect before the first change misses nothing.
    let mut last: Option<String> = match args.after.as_deref() {
        Some("now") => {
            let q = ChangesQuery {
                after: Some("now".into()),
                limit: Some(1),
                ..ChangesQuery::default()
            };
            Some(client.list_changes(&q).await?.next_after)
        }
        _ => None,
    };
    let q = ChangeStreamQuery {
        after: if last.is_some() { None } else { args.after },
        types,
        case_id: args.case_id,
    };
    let mut pause = Duration::from_millis(200);
    loop {
        let stream = client.change_stream(&q, last.as_deref()).await;
        let mut events = match stream {
            Ok(s) => s,
            // A refused request (4xx: a bad query, an expired cursor) will not get better.
            Err(e)
                if e.status()
                    .is_some_and(|s| (400..500).contains(&s) && s != 429) =>
            {
                return Err(e.into());
            }
            Err(e) => {
                eprintln!("docket: the change stream is unavailable ({e}); retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(RECONNECT_MAX);
                continue;
            }
        };
        loop {
            match events.next().await {
                Ok(Some(c)) => {
                    print(global, &c)?;
                    last = Some(c.position.clone());
                    pause = Duration::from_millis(200);
                }
                Ok(None) => break,
                Err(e) => {
                    eprintln!("docket: the change stream dropped ({e}); resuming");
                    break;
                }
            }
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(RECONNECT_MAX);
    }
}

/// One change on one line: its JSON (`--output json`), else position, type, case,
/// version, actor, time and what changed.
fn print(global: &Global, c: &Change) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if global.output == Format::Json {
        writeln!(out, "{}", serde_json::to_string(c)?)?;
        return Ok(());
    }
    let subject = match (&c.case_id, &c.job_id) {
        (Some(case), _) => case.clone(),
        (None, Some(job)) => job.clone(),
        (None, None) => "-".into(),
    };
    let what: Vec<String> = c
        .changes
        .iter()
        .map(|f| format!("{}: {} -> {}", f.field, cell(&f.from), cell(&f.to)))
        .collect();
    writeln!(
        out,
        "{}\t{}\t{}\tv{}\t{}\t{}\t{}",
        c.position,
        c.kind,
        subject,
        c.version.map_or("-".into(), |v| v.to_string()),
        c.actor,
        c.at,
        what.join("; ")
    )?;
    out.flush()?;
    Ok(())
}

fn cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
