//! `docket-bench`: load generators and benchmarks for docket.
//!
//! Each benchmark is a subcommand in its own module (`http`, `bulk`); they share the
//! latency statistics in [`stats`] and the deterministic id picker in [`rng`]. Every
//! benchmark runs against a server the caller started (see `bench/*.sh`), prints its
//! figures on stdout, and exits non-zero if any request failed, so a script can trust
//! that the figures it prints describe successful requests only.

mod bulk;
mod feed;
mod http;
mod rng;
mod stats;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "docket-bench", version, about = "Benchmarks for docket.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Single-case GET or PATCH over HTTP against existing cases CASE-000001..CASE-N.
    Http(http::Args),
    /// Bulk-update jobs over HTTP, submit to `completed`, against the same updates as
    /// raw SQL on a copy of the store (`--raw-db`).
    Bulk(bulk::Args),
    /// The change feed's lag to a long-polling consumer while PATCH writers run.
    Feed(feed::FeedArgs),
    /// Webhook deliveries per second to a receiver on 127.0.0.1.
    Webhooks(feed::WebhookArgs),
    /// Checkpoint and truncate the WAL of a SQLite file (a seeded store, before the
    /// bulk benchmark copies it and starts the server on it).
    WalCheckpoint(bulk::CheckpointArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(3);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Http(args) => http::run(args).await,
            Command::Bulk(args) => bulk::run(args).await,
            Command::Feed(args) => feed::feed(args).await,
            Command::Webhooks(args) => feed::webhooks(args).await,
            Command::WalCheckpoint(args) => bulk::checkpoint(args),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
