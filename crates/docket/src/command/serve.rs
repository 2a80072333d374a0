//! `docket serve`: run the HTTP API.

use std::path::PathBuf;

use anyhow::Context as _;
use docket_server::config::Config;
use docket_server::{Server, demo};

#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "DOCKET_BIND")]
    bind: Option<String>,
    /// Database URL: sqlite://docket.db (relative) or sqlite:///absolute/path.db
    /// [default: sqlite://docket.db].
    // Its password is a secret: `--help` must not show the variable's value.
    #[arg(long, env = "DOCKET_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Configuration file (TOML); see `docket config print-default`.
    #[arg(long, env = "DOCKET_CONFIG")]
    config: Option<PathBuf>,
    /// Seed 1,000 demo cases when the store is empty.
    #[arg(long)]
    demo: bool,
    /// Log format: text or json.
    #[arg(long, env = "DOCKET_LOG_FORMAT")]
    log_format: Option<String>,
    /// Serve a non-loopback address even while no API key exists, so that anyone who
    /// reaches it may do anything: only behind a proxy that authenticates callers.
    #[arg(long)]
    allow_unauthenticated_public_bind: bool,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let mut config = Config::load(args.config.as_deref())?;
    if let Some(b) = args.bind {
        config.server.bind = b;
    }
    if let Some(u) = args.database_url {
        config.database.url = u;
    }
    if let Some(f) = args.log_format {
        config.log.format = f;
    }
    if args.allow_unauthenticated_public_bind {
        config.auth.allow_unauthenticated_public_bind = true;
    }
    docket_server::telemetry::init(&config.log.format, &config.log.filter);
    let server = Server::build(config).await?;
    if args.demo {
        let state = server.state();
        if state.engine.store.count_cases().await? == 0 {
            let (first, last) =
                demo::seed(state.engine.store.as_ref(), &state.workflow, 1_000, 1_000)
                    .await
                    .context("seeding demo cases")?;
            tracing::info!(first, last, "seeded 1000 demo cases");
        }
    }
    let addr = server.local_addr()?;
    let database = docket_server::config::redact_url(&server.state().config.database.url);
    tracing::info!(%addr, %database, "docket listening");
    tracing::info!("web console at http://{addr}/console, API reference at http://{addr}/docs");
    server.run(docket_server::shutdown_signal()).await?;
    tracing::info!("docket stopped");
    Ok(())
}
