//! Configuration: one typed [`Config`], read from a TOML file, then `DOCKET_*`
//! environment variables, then command-line flags (later wins). Parsed once at start;
//! a bad value fails start-up with a message naming it.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::domain::settings::Settings;
use crate::domain::{Workflow, WorkflowConfig};

/// The documented default configuration, printed by `docket config print-default`.
pub const DEFAULT_CONFIG: &str = include_str!("default-config.toml");

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub limits: LimitsConfig,
    pub log: LogConfig,
    pub cache: CacheConfig,
    pub jobs: JobsConfig,
    pub callbacks: CallbacksConfig,
    pub webhooks: WebhooksConfig,
    pub auth: AuthConfig,
    pub rate_limit: RateLimitConfig,
    pub console: ConsoleConfig,
    /// Initial values of the runtime settings (docs/api.md, "Settings"; the seed's key names).
    pub settings: Settings,
    pub workflow: WorkflowConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub bind: String,
    /// A request taking longer than this is answered 503 `timeout`.
    pub request_timeout_seconds: u64,
    /// Largest request body accepted; larger ones get 413 `payload_too_large`.
    pub max_body_bytes: usize,
    /// On SIGINT/SIGTERM, how long in-flight requests and job chunks get to finish.
    pub shutdown_grace_seconds: u64,
    /// How long a keep-alive connection may wait, between requests, for the first byte of
    /// its next request before it is closed.
    pub idle_timeout_seconds: u64,
    /// A request's head must arrive complete within this time of its first byte (of the
    /// connection's opening, for a connection's first request, or of the idle timeout if
    /// that is shorter), so a client sending its headers a byte at a time (slowloris)
    /// holds a connection this long at most.
    pub header_timeout_seconds: u64,
    /// A request's body must arrive complete within this time of its head; past it the
    /// request is answered 408 and the connection closed.
    pub body_timeout_seconds: u64,
    /// Most connections open at once; more wait to be accepted.
    pub max_connections: usize,
    /// Most connections open at once from one client address; more are answered 503
    /// and closed at once, so one client cannot take every slot.
    pub max_connections_per_peer: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            request_timeout_seconds: 60,
            max_body_bytes: 8 * 1024 * 1024,
            shutdown_grace_seconds: 10,
            idle_timeout_seconds: 60,
            header_timeout_seconds: 5,
            body_timeout_seconds: 30,
            max_connections: 1024,
            max_connections_per_peer: 64,
        }
    }
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://docket.db` (relative), `sqlite:///abs/path.db`.
    pub url: String,
    pub sqlite: SqliteConfig,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://docket.db".into(),
            sqlite: SqliteConfig::default(),
        }
    }
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &redact_url(&self.url))
            .field("sqlite", &self.sqlite)
            .finish()
    }
}

/// A database URL fit to print or log: the password (of the user-info, or a `password`
/// parameter) replaced by `***`; the scheme, user, host, database and other parameters
/// kept, so the message still says which database. Every place that shows a database
/// URL goes through here.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return redact_params(url);
    };
    // The user-info ends at the last '@': a password may hold an unencoded '@', '/' or
    // '?' (the URL is then malformed, and still secret). An '@' in a parameter hides
    // more than it must, never less.
    let rest = match rest.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{}", redact_params(host)),
            None => format!("{userinfo}@{}", redact_params(host)),
        },
        None => redact_params(rest),
    };
    format!("{scheme}://{rest}")
}

/// `password=…` parameters of a URL's query, replaced by `password=***`.
fn redact_params(url: &str) -> String {
    let Some((head, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let params: Vec<String> = query
        .split('&')
        .map(|p| match p.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
            _ => p.to_owned(),
        })
        .collect();
    format!("{head}?{}", params.join("&"))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SqliteConfig {
    /// `false`: `synchronous=NORMAL` (survives a process crash, `kill -9`; a power cut may
    /// lose the last commits). `true`: `synchronous=FULL` (survives power loss, slower).
    pub synchronous_full: bool,
    /// Page cache per connection, MiB.
    pub cache_size_mib: u32,
    /// Size of the free-space reserve kept beside the database (`<database>-reserve`),
    /// released when the disk fills so the store can shrink its WAL and recover. 0: none.
    pub reserve_bytes: u64,
}

impl Default for SqliteConfig {
    fn default() -> Self {
        Self {
            synchronous_full: false,
            cache_size_mib: 64,
            reserve_bytes: 8 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Page size of listings when the request names none.
    pub default_page_size: u32,
    /// Largest `limit` a listing accepts.
    pub max_page_size: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            default_page_size: 50,
            max_page_size: 1000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: String,
    /// A `tracing` filter, e.g. `info` or `docket_server=debug,info`.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: "text".into(),
            filter: "info".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Most case reads kept in this node's cache (0: no cache).
    pub capacity: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self { capacity: 100_000 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// Concurrent job workers on this node. 0: this node runs no job (other nodes of a
    /// cluster do, or a test steps them with `Engine::run_until_idle`).
    pub workers: usize,
    /// A worker's claim on a job lasts this long without renewal; then another may take it.
    pub lease_seconds: u64,
    /// Unprocessed items across unfinished jobs above which bulk updates get 429.
    pub max_queued_items: u64,
    /// How often idle workers and waiters look for work they were not told about.
    pub poll_interval_ms: u64,
    /// How often finished jobs past `Jobs.Retention` are purged.
    pub retention_sweep_ms: u64,
    /// Longest `waitSeconds` of a status long-poll.
    pub max_wait_seconds: u64,
    /// Cluster: how often a node records that it is alive.
    pub heartbeat_ms: u64,
    /// Cluster: a node silent this long is dead; jobs stop waiting for it.
    pub node_ttl_seconds: u64,
    /// SQLite: how long a worker may go on past a chunk, in the same transaction, while
    /// no other write waits for the database (at most 50,000 items a transaction), ms.
    /// 0: every chunk (`Jobs.ChunkSize` items) commits on its own.
    pub chunk_group_ms: u64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            workers: 2,
            lease_seconds: 30,
            max_queued_items: 5_000_000,
            poll_interval_ms: 1000,
            retention_sweep_ms: 60_000,
            max_wait_seconds: 50,
            heartbeat_ms: 1000,
            node_ttl_seconds: 10,
            chunk_group_ms: 1000,
        }
    }
}

/// When per-key rate limits apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RateLimitMode {
    /// On unless the server is bound to a loopback address.
    Auto,
    On,
    Off,
}

/// Per-key rate limits: a token bucket per API key (`http::rate_limit`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    pub mode: RateLimitMode,
    /// Requests a key may send per second, on average.
    pub requests_per_second: f64,
    /// Requests a key may send at once (the bucket's size).
    pub burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            mode: RateLimitMode::Auto,
            requests_per_second: 50.0,
            burst: 100,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Serve a non-loopback address even with no API key (everyone may do everything).
    /// Only behind something else that authenticates callers, e.g. a proxy.
    pub allow_unauthenticated_public_bind: bool,
    /// How long API keys read from the store are trusted before being read again: a key
    /// created or revoked on another node takes effect here within this time.
    pub key_cache_ms: u64,
    /// While the server is open (no key exists), let `POST /api/v1/keys` create a key.
    /// Off by default: anyone (or any web page, through DNS rebinding) who reaches an open
    /// server could otherwise mint an admin key; `docket keys create --database-url`
    /// makes the first key in the store instead.
    pub allow_open_key_creation: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            allow_unauthenticated_public_bind: false,
            key_cache_ms: 1000,
            allow_open_key_creation: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// How long a console session lasts after sign-in (the cookie's `Max-Age` too); then
    /// the console asks for the key again.
    pub session_hours: u32,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self { session_hours: 12 }
    }
}

impl ConsoleConfig {
    /// The session lifetime in milliseconds.
    pub fn session_ms(&self) -> i64 {
        i64::from(self.session_hours) * 3_600_000
    }
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallbacksConfig {
    /// HMAC key of `X-Docket-Signature` (env `DOCKET_CALLBACK_SECRET`). Without one,
    /// bulk updates with a `callbackUrl` are refused.
    pub secret: Option<String>,
    /// An attempt with no answer within this time has failed.
    pub timeout_seconds: u64,
    /// Delay before the second attempt; doubles after each failure.
    pub initial_backoff_ms: u64,
    pub max_backoff_seconds: u64,
    /// No new attempt this long after the job ended.
    pub give_up_after_seconds: u64,
    /// Receivers allowed even when loopback or private, and, when not empty, the only
    /// ones callbacks may go to: `hooks.example.com`, `*.example.com` for its
    /// subdomains, an address (`127.0.0.1`) or a CIDR block (`10.1.0.0/16`).
    /// Link-local and cloud-metadata addresses are refused whatever this says.
    pub allowed_hosts: Vec<String>,
    /// Deliveries attempted at once, across all receivers.
    pub max_in_flight: usize,
    /// Deliveries attempted at once to one receiver (`host:port` of its URL), so a
    /// slow receiver cannot take every slot.
    pub max_per_host: usize,
}

impl Default for CallbacksConfig {
    fn default() -> Self {
        Self {
            secret: None,
            timeout_seconds: 10,
            initial_backoff_ms: 1000,
            max_backoff_seconds: 3600,
            give_up_after_seconds: 86_400,
            allowed_hosts: Vec::new(),
            max_in_flight: 32,
            max_per_host: 4,
        }
    }
}

/// Webhook deliveries (docs/api.md, "Webhooks"). Their URLs follow
/// `callbacks.allowed_hosts`, as callback URLs do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// A webhook whose deliveries have all failed this long is disabled.
    pub disable_after_hours: u64,
    /// A delivery is retried (with backoff) this long after it was made, then `failed`.
    pub give_up_after_seconds: u64,
    /// An attempt with no 2xx answer within this time has failed.
    pub timeout_seconds: u64,
    /// Deliveries attempted at once, across all receivers.
    pub max_in_flight: usize,
    /// Deliveries attempted at once to one receiver (`host:port`), so a slow receiver
    /// holds back no other webhook.
    pub max_per_host: usize,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            disable_after_hours: 72,
            give_up_after_seconds: 86_400,
            timeout_seconds: 10,
            max_in_flight: 64,
            max_per_host: 8,
        }
    }
}

impl std::fmt::Debug for CallbacksConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbacksConfig")
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("timeout_seconds", &self.timeout_seconds)
            .field("initial_backoff_ms", &self.initial_backoff_ms)
            .field("max_backoff_seconds", &self.max_backoff_seconds)
            .field("give_up_after_seconds", &self.give_up_after_seconds)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("max_in_flight", &self.max_in_flight)
            .field("max_per_host", &self.max_per_host)
            .finish()
    }
}

impl Config {
    /// Reads the file (if any), then applies `DOCKET_*` environment overrides.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut cfg = match file {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading config file {}", p.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("parsing config file {}", p.display()))?
            }
            None => Self::default(),
        };
        cfg.apply_env(|k| std::env::var(k).ok())?;
        Ok(cfg)
    }

    /// Applies `DOCKET_BIND`, `DOCKET_DATABASE_URL`, `DOCKET_LOG_FORMAT`, `DOCKET_LOG`,
    /// `DOCKET_CALLBACK_SECRET`, `DOCKET_ALLOW_UNAUTHENTICATED_PUBLIC_BIND`.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        if let Some(v) = get("DOCKET_BIND") {
            self.server.bind = v;
        }
        if let Some(v) = get("DOCKET_DATABASE_URL") {
            self.database.url = v;
        }
        if let Some(v) = get("DOCKET_LOG_FORMAT") {
            self.log.format = v;
        }
        if let Some(v) = get("DOCKET_LOG") {
            self.log.filter = v;
        }
        if let Some(v) = get("DOCKET_CALLBACK_SECRET") {
            self.callbacks.secret = Some(v).filter(|s| !s.is_empty());
        }
        if let Some(v) = get("DOCKET_ALLOW_UNAUTHENTICATED_PUBLIC_BIND") {
            self.auth.allow_unauthenticated_public_bind = match v.as_str() {
                "1" | "true" => true,
                "0" | "false" | "" => false,
                other => anyhow::bail!(
                    "DOCKET_ALLOW_UNAUTHENTICATED_PUBLIC_BIND must be true or false, not '{other}'"
                ),
            };
        }
        if let Some(v) = get("DOCKET_RATE_LIMIT_MODE") {
            self.rate_limit.mode = match v.as_str() {
                "auto" => RateLimitMode::Auto,
                "on" => RateLimitMode::On,
                "off" => RateLimitMode::Off,
                other => {
                    anyhow::bail!("DOCKET_RATE_LIMIT_MODE must be auto, on or off, not '{other}'")
                }
            };
        }
        Ok(())
    }

    /// Checks every value that can be wrong, naming the key.
    pub fn validate(&self) -> anyhow::Result<Validated> {
        let bind: SocketAddr = self.server.bind.parse().with_context(|| {
            format!(
                "server.bind '{}' is not an address like 127.0.0.1:8080",
                self.server.bind
            )
        })?;
        let workflow =
            Workflow::new(&self.workflow).map_err(|e| anyhow::anyhow!("workflow: {e}"))?;
        anyhow::ensure!(
            matches!(self.log.format.as_str(), "text" | "json"),
            "log.format must be 'text' or 'json', not '{}'",
            self.log.format
        );
        anyhow::ensure!(
            self.server.max_body_bytes >= 1024,
            "server.max_body_bytes must be at least 1024"
        );
        anyhow::ensure!(
            self.server.request_timeout_seconds >= 1,
            "server.request_timeout_seconds must be at least 1"
        );
        anyhow::ensure!(
            self.server.idle_timeout_seconds >= 1,
            "server.idle_timeout_seconds must be at least 1"
        );
        anyhow::ensure!(
            self.server.max_connections >= 1,
            "server.max_connections must be at least 1"
        );
        anyhow::ensure!(
            self.server.header_timeout_seconds >= 1,
            "server.header_timeout_seconds must be at least 1"
        );
        anyhow::ensure!(
            self.server.body_timeout_seconds >= 1,
            "server.body_timeout_seconds must be at least 1"
        );
        anyhow::ensure!(
            self.server.max_connections_per_peer >= 1,
            "server.max_connections_per_peer must be at least 1"
        );
        anyhow::ensure!(
            self.rate_limit.requests_per_second > 0.0
                && self.rate_limit.requests_per_second.is_finite()
                && self.rate_limit.burst >= 1,
            "rate_limit.requests_per_second must be above 0 and rate_limit.burst at least 1"
        );
        anyhow::ensure!(
            self.limits.default_page_size >= 1
                && self.limits.default_page_size <= self.limits.max_page_size,
            "limits.default_page_size must be between 1 and limits.max_page_size"
        );
        if let Some((key, msg)) = self.settings.problems().into_iter().next() {
            anyhow::bail!("settings.\"{key}\" {msg}");
        }
        anyhow::ensure!(
            self.jobs.lease_seconds >= 1,
            "jobs.lease_seconds must be at least 1"
        );
        anyhow::ensure!(
            self.jobs.poll_interval_ms >= 10,
            "jobs.poll_interval_ms must be at least 10"
        );
        anyhow::ensure!(
            self.jobs.retention_sweep_ms >= 10,
            "jobs.retention_sweep_ms must be at least 10"
        );
        anyhow::ensure!(
            (1..=8760).contains(&self.console.session_hours),
            "console.session_hours must be between 1 and 8760 (a year)"
        );
        anyhow::ensure!(
            self.callbacks.timeout_seconds >= 1,
            "callbacks.timeout_seconds must be at least 1"
        );
        anyhow::ensure!(
            self.callbacks.max_in_flight >= 1 && self.callbacks.max_per_host >= 1,
            "callbacks.max_in_flight and callbacks.max_per_host must be at least 1"
        );
        anyhow::ensure!(
            self.webhooks.max_in_flight >= 1
                && self.webhooks.max_per_host >= 1
                && self.webhooks.timeout_seconds >= 1
                && self.webhooks.disable_after_hours >= 1,
            "webhooks.max_in_flight, max_per_host, timeout_seconds and disable_after_hours must be at least 1"
        );
        Ok(Validated { bind, workflow })
    }
}

/// Values derived from a config once it has been checked.
#[derive(Debug, Clone)]
pub struct Validated {
    pub bind: SocketAddr,
    pub workflow: Workflow,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redacted_database_url_keeps_everything_but_the_password() {
        let cases = [
            (
                "postgres://docket:s3cret@db.internal:5432/docket?sslmode=require&schema=a",
                "postgres://docket:***@db.internal:5432/docket?sslmode=require&schema=a",
            ),
            ("postgres://docket@db/docket", "postgres://docket@db/docket"),
            (
                "postgres://db/docket?password=s3cret&user=u",
                "postgres://db/docket?password=***&user=u",
            ),
            (
                "postgresql://u:p%40ss@127.0.0.1/d",
                "postgresql://u:***@127.0.0.1/d",
            ),
            (
                "postgres://u:pa@s/s?x@127.0.0.1/d",
                "postgres://u:***@127.0.0.1/d",
            ),
            ("postgres://u:@h/d", "postgres://u:***@h/d"),
            ("sqlite://docket.db", "sqlite://docket.db"),
            (
                "sqlite:///var/lib/docket/docket.db",
                "sqlite:///var/lib/docket/docket.db",
            ),
            ("not a url", "not a url"),
        ];
        for (url, shown) in cases {
            assert_eq!(redact_url(url), shown, "{url}");
        }
        let mut config = Config::default();
        config.database.url = "postgres://u:s3cret@h/d".into();
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("s3cret") && debug.contains("u:***@h/d"),
            "{debug}"
        );
    }

    #[test]
    fn printed_default_config_is_the_default() {
        let parsed: Config = toml::from_str(DEFAULT_CONFIG).unwrap();
        assert_eq!(parsed, Config::default());
        parsed.validate().unwrap();
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(toml::from_str::<Config>("[server]\nbindd = \"x\"").is_err());
    }

    #[test]
    fn env_overrides_file_values() {
        let mut cfg = Config::default();
        cfg.apply_env(|k| (k == "DOCKET_DATABASE_URL").then(|| "sqlite:///tmp/x.db".to_owned()))
            .unwrap();
        assert_eq!(cfg.database.url, "sqlite:///tmp/x.db");
    }

    #[test]
    fn bad_bind_address_is_named() {
        let mut cfg = Config::default();
        cfg.server.bind = "nowhere".into();
        assert!(
            cfg.validate()
                .unwrap_err()
                .to_string()
                .contains("server.bind")
        );
    }
}
