//! `docket config`: configuration helpers.

use clap::Subcommand;

#[derive(Subcommand)]
pub enum Command {
    /// Print the documented default configuration file.
    PrintDefault,
}

pub fn run(cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::PrintDefault => {
            #[cfg(feature = "server")]
            print!("{}", docket_server::config::DEFAULT_CONFIG);
            #[cfg(not(feature = "server"))]
            anyhow::bail!("this build has no server; the configuration file is the server's");
        }
    }
    #[allow(unreachable_code)]
    Ok(())
}
