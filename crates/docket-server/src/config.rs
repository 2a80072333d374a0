//! Configuration: one typed [`Config`], read from a TOML file, then `DOCKET_*`
//! environment variables, then command-line flags (later wins). Parsed once at start;
//! a bad value fails start-up with a message naming it.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

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
    /// On SIGINT/SIGTERM, how long in-flight requests get to finish.
    pub shutdown_grace_seconds: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            request_timeout_seconds: 60,
            max_body_bytes: 8 * 1024 * 1024,
            shutdown_grace_seconds: 10,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SqliteConfig {
    /// `false`: `synchronous=NORMAL` (survives a process crash, `kill -9`; a power cut may
    /// lose the last commits). `true`: `synchronous=FULL` (survives power loss, slower).
    pub synchronous_full: bool,
    /// Page cache per connection, MiB.
    pub cache_size_mib: u32,
}

impl Default for SqliteConfig {
    fn default() -> Self {
        Self {
            synchronous_full: false,
            cache_size_mib: 64,
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

    /// Applies `DOCKET_BIND`, `DOCKET_DATABASE_URL`, `DOCKET_LOG_FORMAT`, `DOCKET_LOG`.
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
            self.limits.default_page_size >= 1
                && self.limits.default_page_size <= self.limits.max_page_size,
            "limits.default_page_size must be between 1 and limits.max_page_size"
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
