//! `docket`: the server (`docket serve`) and the command line for it.
//!
//! Client commands share the global flags of [`Global`] (accepted anywhere on the command
//! line) and end with one of the exit codes of [`exit::Exit`].

mod command;
mod exit;
mod input;
mod output;
mod wait;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::exit::Exit;
use crate::output::Format;

/// The exit codes, as `--help` shows them (and docs/cli.md repeats).
const EXIT_CODES: &str = "\
Exit codes:
  0  success: every item succeeded
  1  some items failed (or were cancelled); they are listed with their codes
  2  usage or input error: bad arguments, a malformed input file (nothing was sent),
     or a request the server refused as invalid (4xx: not found, validation, conflict)
  3  server or network error: unreachable, 5xx, 401/403, 429
  4  stopped waiting before the jobs ended (--timeout passed, or Ctrl-C); they keep
     running: `docket jobs watch JOB...` resumes";

#[derive(Parser)]
#[command(
    name = "docket",
    version,
    about = "Case management whose bulk updates never leave a stale read.",
    after_help = EXIT_CODES
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Flags of every client command, accepted before or after the subcommand.
#[derive(clap::Args, Clone)]
pub struct Global {
    /// The docket server.
    #[arg(
        long,
        global = true,
        env = "DOCKET_URL",
        default_value = command::DEFAULT_SERVER
    )]
    pub server: String,
    /// API key, sent as `Authorization: Bearer <key>`.
    #[arg(long, global = true, env = "DOCKET_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// `table` for people, `json` for scripts (stable shapes, on stdout).
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API on the embedded SQLite store (or the configured database).
    #[cfg(feature = "server")]
    Serve(command::serve::Args),
    /// Write realistic demo cases straight into a store (for demos and benchmarks).
    #[cfg(feature = "server")]
    Seed(command::seed::Args),
    /// Create, read, list, change, delete cases and read their history.
    #[command(subcommand)]
    Cases(command::cases::Command),
    /// Every committed change, in commit order, one line each; --follow tails them.
    Changes(command::changes::Args),
    /// Update many cases in the background from a file (JSON, NDJSON or CSV), optionally
    /// waiting with a progress bar.
    BulkUpdate(command::bulk::Args),
    /// Follow, list, inspect, cancel and retry bulk-update jobs.
    #[command(subcommand)]
    Jobs(command::jobs::Command),
    /// Read cases' authoritative statuses (never from a cache), optionally dropping them
    /// from every node's cache.
    RefreshStatus(command::refresh::Args),
    /// Read and change the runtime settings.
    #[command(subcommand)]
    Settings(command::settings::Command),
    /// Run the seed's scenario against a server and count stale reads (exit 1 if any).
    CheckConsistency(command::check::Args),
    /// Configuration helpers.
    #[command(subcommand)]
    Config(command::config::Command),
    /// Create, list and revoke API keys (through the server, or with --database-url
    /// straight in the store: the way to make the first key).
    #[command(subcommand)]
    Keys(command::keys::Command),
    /// Subscribe URLs to the change feed (signed, retried, in order per case), send
    /// test events, read and redeliver the delivery log (an admin key).
    #[command(subcommand)]
    Webhooks(command::webhooks::Command),
}

fn main() -> ExitCode {
    // Usage errors exit 2 (clap's convention, and ours); --help and --version exit 0.
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Exit::Server.into();
        }
    };
    let global = cli.global;
    let result = runtime.block_on(async move {
        match cli.command {
            #[cfg(feature = "server")]
            Command::Serve(args) => command::serve::run(args).await.map(|()| Exit::Success),
            #[cfg(feature = "server")]
            Command::Seed(args) => command::seed::run(args).await.map(|()| Exit::Success),
            Command::Config(cmd) => command::config::run(cmd).map(|()| Exit::Success),
            Command::Cases(cmd) => command::cases::run(cmd, &global).await,
            Command::Changes(args) => command::changes::run(args, &global).await,
            Command::BulkUpdate(args) => command::bulk::run(args, &global).await,
            Command::Jobs(cmd) => command::jobs::run(cmd, &global).await,
            Command::RefreshStatus(args) => command::refresh::run(args, &global).await,
            Command::Settings(cmd) => command::settings::run(cmd, &global).await,
            Command::Keys(cmd) => command::keys::run(cmd, &global).await,
            Command::Webhooks(cmd) => command::webhooks::run(cmd, &global).await,
            Command::CheckConsistency(args) => command::check::run(args, &global).await.map(|r| {
                if r.stale > 0 {
                    Exit::ItemsFailed
                } else {
                    Exit::Success
                }
            }),
        }
    });
    // Waiters may still hold connections; do not wait for them.
    runtime.shutdown_background();
    match result {
        Ok(code) => code.into(),
        Err(e) => {
            eprintln!("error: {}", exit::render(&e));
            exit::classify(&e).into()
        }
    }
}
