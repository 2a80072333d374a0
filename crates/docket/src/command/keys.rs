//! `docket keys create|list|revoke`: API keys, through the server's admin API
//! (`--server`, with an admin `--api-key`) or, with `--database-url`, straight in the
//! store — the way to make the first key, before any exists.

use clap::Subcommand;
use docket_api::{ApiKey, CreatedApiKey, NewApiKey};

use crate::Global;
use crate::exit::Exit;
use crate::output::{self, Format, Table};

#[derive(Subcommand)]
pub enum Command {
    /// Create a key and print its token, once: only its hash is kept.
    Create {
        /// cases:read, cases:write, jobs:read or admin (which grants all); repeatable.
        #[arg(long = "scope", required = true, value_name = "SCOPE")]
        scopes: Vec<String>,
        /// What the key is for; history shows it as the writer of the key's changes.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List the keys (never their tokens), revoked ones too.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke a key: it stops working at once on this server, within a second on others.
    Revoke {
        /// The key's id (`docket keys list`).
        key_id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Working on the store directly instead of through a server.
#[derive(clap::Args)]
pub struct StoreArgs {
    /// Work on this database directly (sqlite://… or postgres://…) instead of through
    /// --server.
    #[cfg(feature = "server")]
    #[arg(long)]
    database_url: Option<String>,
    /// Configuration file (with --database-url: for the SQLite settings).
    #[cfg(feature = "server")]
    #[arg(long, env = "DOCKET_CONFIG", requires = "database_url")]
    config: Option<std::path::PathBuf>,
}

pub async fn run(cmd: Command, global: &Global) -> anyhow::Result<Exit> {
    match cmd {
        Command::Create {
            scopes,
            name,
            store,
        } => {
            let new = NewApiKey { name, scopes };
            let created = match direct(&store).await? {
                #[cfg(feature = "server")]
                Some(s) => direct_store::create(s.as_ref(), new).await?,
                _ => super::client(global)?.create_key(&new).await?,
            };
            print_created(global.output, &created)?;
        }
        Command::List { store } => {
            let keys = match direct(&store).await? {
                #[cfg(feature = "server")]
                Some(s) => s
                    .list_keys()
                    .await?
                    .iter()
                    .map(docket_server::wire::api_key)
                    .collect(),
                _ => super::client(global)?.list_keys().await?.items,
            };
            print_keys(global.output, &keys)?;
        }
        Command::Revoke { key_id, store } => {
            let key = match direct(&store).await? {
                #[cfg(feature = "server")]
                Some(s) => direct_store::revoke(s.as_ref(), &key_id).await?,
                _ => super::client(global)?.revoke_key(&key_id).await?,
            };
            match global.output {
                Format::Json => output::json(&key)?,
                Format::Table => print_keys(Format::Table, std::slice::from_ref(&key))?,
            }
        }
    }
    Ok(Exit::Success)
}

#[cfg(feature = "server")]
type Direct = Option<std::sync::Arc<dyn docket_server::store::Store>>;
#[cfg(not(feature = "server"))]
type Direct = Option<std::convert::Infallible>;

/// The store named by `--database-url`, opened (and migrated), when one was given.
#[cfg(feature = "server")]
async fn direct(args: &StoreArgs) -> anyhow::Result<Direct> {
    let Some(url) = &args.database_url else {
        return Ok(None);
    };
    let config = docket_server::config::Config::load(args.config.as_deref())?;
    let workflow = std::sync::Arc::new(
        docket_server::domain::Workflow::new(&config.workflow)
            .map_err(|e| anyhow::anyhow!("workflow: {e}"))?,
    );
    let store = docket_server::store::open(url, workflow, &config).await?;
    Ok(Some(store))
}

#[cfg(not(feature = "server"))]
async fn direct(_: &StoreArgs) -> anyhow::Result<Direct> {
    Ok(None)
}

#[cfg(feature = "server")]
mod direct_store {
    use docket_api::{ApiKey, CreatedApiKey, NewApiKey};
    use docket_server::domain::Timestamp;
    use docket_server::engine::keys::{CreateError, create_key};
    use docket_server::store::{self, Store};

    use crate::exit::input_error;

    pub async fn create(store: &dyn Store, new: NewApiKey) -> anyhow::Result<CreatedApiKey> {
        let (issued, _) = create_key(store, new.name, &new.scopes, Timestamp::now())
            .await
            .map_err(|e| match e {
                CreateError::Invalid(errs) => input_error(
                    errs.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
                CreateError::Store(e) => anyhow::Error::new(e).context("storing the key"),
            })?;
        Ok(CreatedApiKey {
            key: docket_server::wire::api_key(&issued.key),
            token: issued.token,
        })
    }

    pub async fn revoke(store: &dyn Store, id: &str) -> anyhow::Result<ApiKey> {
        match store.revoke_key(id, Timestamp::now()).await {
            Ok((k, _)) => Ok(docket_server::wire::api_key(&k)),
            Err(store::Error::NotFound) => Err(input_error(format!("there is no API key {id}"))),
            Err(e) => Err(anyhow::Error::new(e).context("revoking the key")),
        }
    }
}

fn print_created(format: Format, created: &CreatedApiKey) -> anyhow::Result<()> {
    match format {
        Format::Json => output::json(created),
        Format::Table => {
            let k = &created.key;
            println!(
                "created key {}{} with scopes {}",
                k.key_id,
                k.name
                    .as_deref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default(),
                k.scopes.join(", ")
            );
            println!("token (shown this once; only its hash is kept):");
            println!("{}", created.token);
            Ok(())
        }
    }
}

fn print_keys(format: Format, keys: &[ApiKey]) -> anyhow::Result<()> {
    match format {
        Format::Json => output::json(&serde_json::json!({ "items": keys })),
        Format::Table => {
            let mut t = Table::new(&["KEY", "NAME", "SCOPES", "CREATED", "REVOKED"]);
            for k in keys {
                t.row(vec![
                    k.key_id.clone(),
                    k.name.clone().unwrap_or_default(),
                    k.scopes.join(","),
                    k.created_at.clone(),
                    k.revoked_at.clone().unwrap_or_default(),
                ]);
            }
            t.print();
            Ok(())
        }
    }
}
