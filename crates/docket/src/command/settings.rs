//! `docket settings get [KEY]`, `docket settings set KEY=VALUE...`: the runtime
//! settings under the seed's names; a change applies at once on the server.

use clap::Subcommand;
use serde_json::{Map, Value};

use crate::Global;
use crate::exit::{Exit, input_error};
use crate::output::{self, Format, Table};

#[derive(Subcommand)]
pub enum Command {
    /// Show the settings (or one).
    Get {
        /// e.g. CaseManagement.CacheTimeout
        key: Option<String>,
    },
    /// Change settings; VALUE is JSON when it parses as JSON (60, true), else text (ttl).
    Set {
        #[arg(required = true, value_name = "KEY=VALUE", value_parser = super::key_value)]
        pairs: Vec<(String, Value)>,
    },
}

pub async fn run(cmd: Command, global: &Global) -> anyhow::Result<Exit> {
    let client = super::client(global)?;
    let settings = match cmd {
        Command::Get { key: None } => client.settings().await?,
        Command::Get { key: Some(key) } => {
            let all = client.settings().await?;
            let value = all.get(&key).cloned().ok_or_else(|| {
                let known: Vec<&str> = all.keys().map(String::as_str).collect();
                input_error(format!(
                    "no setting '{key}'; the settings are {}",
                    known.join(", ")
                ))
            })?;
            Map::from_iter([(key, value)])
        }
        Command::Set { pairs } => client.update_settings(&pairs.into_iter().collect()).await?,
    };
    match global.output {
        Format::Json => output::json(&settings)?,
        Format::Table => {
            let mut t = Table::new(&["SETTING", "VALUE"]);
            for (k, v) in &settings {
                let v = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                t.row(vec![k.clone(), v]);
            }
            t.print();
        }
    }
    Ok(Exit::Success)
}
