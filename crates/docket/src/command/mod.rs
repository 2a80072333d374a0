//! One module per subcommand, and what the client commands share.

pub mod bulk;
pub mod bulk_delete;
pub mod cases;
pub mod changes;
pub mod check;
pub mod comments;
pub mod config;
pub mod import;
pub mod jobs;
pub mod keys;
pub mod refresh;
#[cfg(feature = "server")]
pub mod seed;
#[cfg(feature = "server")]
pub mod serve;
pub mod settings;
pub mod summary;
pub mod webhooks;

use anyhow::Context as _;
use docket_client::Client;

use crate::Global;
use crate::exit::input_error;

/// `--server` when neither the flag nor `DOCKET_URL` is given.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// `Jobs.MaxItemsPerRequest` when the settings cannot be read.
const DEFAULT_MAX_ITEMS: usize = 10_000;

/// A client for `--server`, authorised with `--api-key`.
pub fn client(global: &Global) -> anyhow::Result<Client> {
    let url = global.server.trim();
    let host = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    if host.is_none_or(|h| h.is_empty() || h.starts_with('/')) {
        return Err(input_error(format!(
            "--server (or DOCKET_URL) '{url}' is not an http:// or https:// URL"
        )));
    }
    Ok(Client::new(&global.server)
        .with_context(|| format!("--server {}", global.server))?
        .with_api_key(global.api_key.clone()))
}

/// The server's `Jobs.MaxItemsPerRequest`: the most items (or case ids) one request may
/// carry. A key without the admin scope may not read the settings; then the default,
/// and a 413 still tells the caller to split further.
pub async fn max_items(client: &Client) -> anyhow::Result<usize> {
    match client.settings().await {
        Ok(s) => Ok(s
            .get("Jobs.MaxItemsPerRequest")
            .and_then(serde_json::Value::as_u64)
            .map_or(DEFAULT_MAX_ITEMS, |n| n.max(1) as usize)),
        Err(e) if matches!(e.status(), Some(401 | 403 | 404)) => Ok(DEFAULT_MAX_ITEMS),
        Err(e) => Err(e).context("reading Jobs.MaxItemsPerRequest from the settings"),
    }
}

/// How to run `docket jobs watch` against this server again (for the resume hint).
pub fn watch_hint(global: &Global, jobs: &[String]) -> String {
    let mut s = format!("docket jobs watch {}", jobs.join(" "));
    if global.server != DEFAULT_SERVER
        && std::env::var("DOCKET_URL").ok().as_deref() != Some(&global.server)
    {
        s.push_str(&format!(" --server {}", global.server));
    }
    s
}

/// Parses `KEY=VALUE`; VALUE is JSON when it parses as JSON (`3`, `true`, `null`,
/// `"007"`), else text.
pub fn key_value(s: &str) -> Result<(String, serde_json::Value), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}' is not KEY=VALUE"))?;
    let k = k.trim();
    if k.is_empty() {
        return Err(format!("'{s}' has an empty KEY"));
    }
    let v = serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.to_owned()));
    Ok((k.to_owned(), v))
}
