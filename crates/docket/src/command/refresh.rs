//! `docket refresh-status IDS|--file FILE`: the authoritative statuses of cases, read
//! from the store (never a cache), optionally dropping them from every node's cache.
//! More ids than `Jobs.MaxItemsPerRequest` go in several requests. Exit 1 when some
//! case does not exist.

use docket_api::{CaseStatus, RefreshRequest, RefreshResponse};

use crate::Global;
use crate::exit::{Exit, input_error};
use crate::output::{self, Format, Table};

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["ids", "file"])))]
pub struct Args {
    /// Case ids (separated by spaces or commas).
    #[arg(value_name = "IDS")]
    ids: Vec<String>,
    /// Read the ids from a file: one per line, or a CSV with a caseId column (a
    /// bulk-update input file works); `-` is standard input.
    #[arg(long, value_name = "FILE|-", conflicts_with = "ids")]
    file: Option<String>,
    /// Also drop the cases from every node's cache.
    #[arg(long)]
    force_cache_invalidation: bool,
}

pub async fn run(args: Args, global: &Global) -> anyhow::Result<Exit> {
    let ids = match &args.file {
        Some(f) => ids_from_file(f)?,
        None => args
            .ids
            .iter()
            .flat_map(|s| s.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    if ids.is_empty() {
        return Err(input_error("no case ids given"));
    }
    let client = super::client(global)?;
    let max = super::max_items(&client).await?;
    let mut all = RefreshResponse {
        cases: Vec::new(),
        not_found: Vec::new(),
        invalidated: 0,
        consistency_token: String::new(),
    };
    for chunk in ids.chunks(max) {
        let r = client
            .refresh_status(&RefreshRequest {
                case_ids: chunk.to_vec(),
                force_cache_invalidation: args.force_cache_invalidation,
            })
            .await?
            .body;
        all.cases.extend(r.cases);
        all.not_found.extend(r.not_found);
        all.invalidated += r.invalidated;
        // Later requests read later: the last token covers them all.
        all.consistency_token = r.consistency_token;
    }
    match global.output {
        Format::Json => output::json(&all)?,
        Format::Table => {
            table(&all.cases).print();
            if args.force_cache_invalidation {
                println!("invalidated: {}", all.invalidated);
            }
            if !all.not_found.is_empty() {
                println!("not found: {}", all.not_found.join(", "));
            }
        }
    }
    Ok(if all.not_found.is_empty() {
        Exit::Success
    } else {
        Exit::ItemsFailed
    })
}

fn table(cases: &[CaseStatus]) -> Table {
    let mut t = Table::new(&["CASE", "STATUS", "VERSION", "UPDATED"]);
    for c in cases {
        t.row(vec![
            c.case_id.clone(),
            c.status.clone(),
            c.version.to_string(),
            c.updated_at.clone(),
        ]);
    }
    t
}

/// Ids one per line (blank lines and `#` comments skipped), or the caseId column of a
/// CSV (or any bulk-update input file) when the first line names columns.
pub(crate) fn ids_from_file(path: &str) -> anyhow::Result<Vec<String>> {
    let text = if path == "-" {
        std::io::read_to_string(std::io::stdin())
            .map_err(|e| input_error(format!("cannot read standard input: {e}")))?
    } else {
        std::fs::read_to_string(path)
            .map_err(|e| input_error(format!("cannot read {path}: {e}")))?
    };
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let looks_structured = first.starts_with(['[', '{'])
        || first.contains(',')
        || first
            .trim_start_matches('\u{feff}')
            .eq_ignore_ascii_case("caseid");
    if looks_structured {
        let input = crate::input::parse(&text, crate::input::InputFormat::Auto)
            .map_err(|e| input_error(format!("{path}: {e}")))?;
        return Ok(input.items.into_iter().map(|i| i.case_id).collect());
    }
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect())
}
