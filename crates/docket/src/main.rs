//! `docket`: the server (`docket serve`) and the command line for it.

mod command;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "docket",
    version,
    about = "Case management whose bulk updates never leave a stale read."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API on the embedded SQLite store (or the configured database).
    #[cfg(feature = "server")]
    Serve(command::serve::Args),
    /// Write realistic demo cases straight into a store (for demos and benchmarks).
    #[cfg(feature = "server")]
    Seed(command::seed::Args),
    /// Run the seed's scenario against a server and count stale reads (exit 1 if any).
    CheckConsistency(command::check::Args),
    /// Configuration helpers.
    #[command(subcommand)]
    Config(command::config::Command),
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
            #[cfg(feature = "server")]
            Command::Serve(args) => command::serve::run(args).await,
            #[cfg(feature = "server")]
            Command::Seed(args) => command::seed::run(args).await,
            Command::Config(cmd) => command::config::run(cmd),
            Command::CheckConsistency(args) => command::check::run(args).await.and_then(|r| {
                if r.stale > 0 {
                    Err(anyhow::anyhow!("{} stale reads", r.stale))
                } else {
                    Ok(())
                }
            }),
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
