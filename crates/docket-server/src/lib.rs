//! docket's server: configuration, domain, stores, engine and HTTP API.
//!
//! [`Server::build`] opens the store, binds the listener and returns a server that
//! [`Server::run`] serves until its shutdown future resolves.

pub mod clock;
pub mod config;
pub mod demo;
pub mod domain;
pub mod engine;
pub mod error;
pub mod http;
pub mod metrics;
pub mod spool;
pub mod store;
pub mod telemetry;
pub mod wire;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::engine::Engine;
use crate::engine::settings::SettingsHandle;
use crate::http::AppState;

/// A bound, ready-to-run server.
pub struct Server {
    listener: TcpListener,
    state: AppState,
}

impl Server {
    /// Validates the config, opens (and migrates) the store, binds the address.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_clock(config, Arc::new(clock::SystemClock)).await
    }

    /// [`Server::build`] on a clock of the caller's (tests move a
    /// [`clock::ShiftedClock`] forward instead of sleeping).
    pub async fn build_with_clock(
        config: Config,
        clock: Arc<dyn clock::Clock>,
    ) -> anyhow::Result<Self> {
        let validated = config.validate()?;
        let workflow = Arc::new(validated.workflow);
        let store = store::open(&config.database.url, workflow.clone(), &config).await?;
        // A single-node store's leases left by an earlier (crashed) run are void. A
        // shared store's are the other nodes', and a crashed node's expire.
        if store.single_node() {
            store.release_leases(None).await?;
        }
        if config.jobs.workers == 0 && store.single_node() {
            tracing::warn!(
                "jobs.workers = 0 on a single-node store: bulk jobs submitted here will not run"
            );
        }
        // Settings changed through the API win over the configured initial values.
        let saved = store.load_settings().await?;
        let settings = config.settings.patched(&saved).map_err(|e| {
            anyhow::anyhow!("the settings stored in the database are invalid: {e:?}")
        })?;
        let engine = Engine::new(
            store.clone(),
            clock,
            SettingsHandle::new(settings),
            config.settings.clone(),
            &config,
        )?;
        let open_allowed =
            validated.bind.ip().is_loopback() || config.auth.allow_unauthenticated_public_bind;
        if store.list_keys().await?.is_empty() {
            anyhow::ensure!(
                open_allowed,
                "refusing to serve {} without API keys: anyone who can reach that address \
                 could read and change every case. Create an admin key first \
                 (`docket keys create --database-url {} --scope admin`), or bind to a \
                 loopback address such as 127.0.0.1, or, behind a proxy that \
                 authenticates, set auth.allow_unauthenticated_public_bind = true",
                validated.bind,
                config::redact_url(&config.database.url)
            );
            tracing::warn!(
                bind = %validated.bind,
                "no API key exists: the API is OPEN to anyone who can reach this address; \
                 create a key with `docket keys create --scope admin` to require keys"
            );
        }
        let keys = Arc::new(engine::keys::KeyRing::new(
            store.clone(),
            Duration::from_millis(config.auth.key_cache_ms),
            open_allowed,
            engine::keys::OpenPolicy {
                any_host: config.auth.allow_unauthenticated_public_bind,
                key_creation: config.auth.allow_open_key_creation,
            },
        ));
        let listener = TcpListener::bind(validated.bind)
            .await
            .with_context(|| format!("binding {}", validated.bind))?;
        let rate_limiter =
            http::rate_limit::RateLimiter::from_config(&config.rate_limit, validated.bind)
                .map(Arc::new);
        let state = AppState::new(http::Shared {
            engine,
            workflow,
            config: Arc::new(config),
            keys,
            rate_limiter,
        });
        Ok(Self { listener, state })
    }

    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then shuts down within
    /// `server.shutdown_grace_seconds`: no new connections; in-flight requests finish
    /// (long-polls and event streams answer with what they have); each job worker
    /// finishes the chunk it is applying (its transaction commits or never happened);
    /// this node's job leases are released, so the next start, or another node, resumes
    /// the jobs at once rather than after the lease expires.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self { listener, state } = self;
        let server = &state.config.server;
        let grace = Duration::from_secs(server.shutdown_grace_seconds);
        let limits = http::serve::ConnLimits {
            max_connections: server.max_connections,
            max_connections_per_peer: server.max_connections_per_peer,
            header_timeout: Duration::from_secs(server.header_timeout_seconds),
            idle_timeout: Duration::from_secs(server.idle_timeout_seconds),
        };
        let engine = state.engine.clone();
        let store = state.engine.store.clone();
        let background = engine.spawn(engine.stopping()).await?;
        let serving = tokio::spawn(http::serve::serve(
            listener,
            http::router(state),
            limits,
            engine.stopping(),
        ));
        shutdown.await;
        tracing::info!("shutting down: finishing requests and the chunks being applied");
        engine.stop();
        let deadline = tokio::time::Instant::now() + grace;
        if tokio::time::timeout_at(deadline, serving).await.is_err() {
            tracing::warn!("connections still open after the grace period are dropped");
        }
        for h in background {
            if tokio::time::timeout_at(deadline, h).await.is_err() {
                tracing::warn!("a background task did not stop within the grace period");
            }
        }
        // Whatever a worker left unfinished, another may take at once.
        store
            .release_leases(Some(&engine.node))
            .await
            .context("releasing this node's job leases")?;
        tracing::info!("shut down cleanly");
        Ok(())
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received");
}
