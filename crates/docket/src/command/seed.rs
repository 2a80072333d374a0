//! `docket seed`: write demo cases straight into a store.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use docket_server::config::Config;
use docket_server::domain::Workflow;
use docket_server::{demo, store};

#[derive(clap::Args)]
pub struct Args {
    /// Database URL, as for `docket serve`.
    // Its password is a secret: `--help` must not show the variable's value.
    #[arg(long, env = "DOCKET_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// How many cases to write (numbered after the highest existing CASE-n).
    #[arg(long)]
    cases: u64,
    /// Configuration file (for the workflow and SQLite settings).
    #[arg(long, env = "DOCKET_CONFIG")]
    config: Option<PathBuf>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let mut config = Config::load(args.config.as_deref())?;
    if let Some(u) = args.database_url {
        config.database.url = u;
    }
    let workflow =
        Arc::new(Workflow::new(&config.workflow).map_err(|e| anyhow::anyhow!("workflow: {e}"))?);
    let store = store::open(&config.database.url, workflow.clone(), &config).await?;
    let started = Instant::now();
    let (first, last) = demo::seed(store.as_ref(), &workflow, args.cases, 10_000).await?;
    let secs = started.elapsed().as_secs_f64();
    if args.cases == 0 {
        println!("seeded 0 cases");
    } else {
        println!(
            "seeded {} cases (CASE-{first:06} .. CASE-{last:06}) in {secs:.2} s ({:.0} cases/s)",
            args.cases,
            args.cases as f64 / secs.max(1e-9)
        );
    }
    Ok(())
}
