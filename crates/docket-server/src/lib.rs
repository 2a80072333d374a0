//! docket's server: configuration, domain, stores, engine and HTTP API.
//!
//! [`Server::build`] opens the store, binds the listener and returns a server that
//! [`Server::run`] serves until its shutdown future resolves.

pub mod config;
pub mod demo;
pub mod domain;
pub mod engine;
pub mod http;
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
        let validated = config.validate()?;
        let workflow = Arc::new(validated.workflow);
        let store = store::open(
            &config.database.url,
            workflow.clone(),
            &config.database.sqlite,
        )
        .await?;
        // One node owns a SQLite file: leases left by an earlier (crashed) run are void.
        store.release_leases(None).await?;
        // Settings changed through the API win over the configured initial values.
        let saved = store.load_settings().await?;
        let settings = config.settings.patched(&saved).map_err(|e| {
            anyhow::anyhow!("the settings stored in the database are invalid: {e:?}")
        })?;
        let engine = Engine::new(
            store.clone(),
            SettingsHandle::new(settings),
            config.settings.clone(),
            config.jobs.clone(),
            config.callbacks.clone(),
            config.cache.capacity,
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
                config.database.url
            );
            tracing::warn!(
                bind = %validated.bind,
                "no API key exists: the API is OPEN to anyone who can reach this address; \
                 create a key with `docket keys create --scope admin` to require keys"
            );
        }
        let keys = Arc::new(http::auth::KeyRing::new(
            store.clone(),
            Duration::from_millis(config.auth.key_cache_ms),
            open_allowed,
        ));
        let listener = TcpListener::bind(validated.bind)
            .await
            .with_context(|| format!("binding {}", validated.bind))?;
        let state = AppState {
            store,
            engine,
            workflow,
            config: Arc::new(config),
            keys,
        };
        Ok(Self { listener, state })
    }

    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish for up to
    /// `server.shutdown_grace_seconds`.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let grace = Duration::from_secs(self.state.config.server.shutdown_grace_seconds);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let background = self.state.engine.spawn(stop_rx).await?;
        let app = http::router(self.state);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let serve = axum::serve(self.listener, app).with_graceful_shutdown(async move {
            shutdown.await;
            let _ = tx.send(());
        });
        let mut serve = std::pin::pin!(serve.into_future());
        tokio::select! {
            r = &mut serve => r.context("serving HTTP")?,
            () = async { let _ = rx.await; tokio::time::sleep(grace).await; } => {
                tracing::warn!("in-flight requests did not finish within the grace period");
            }
        }
        let _ = stop_tx.send(true);
        for h in background {
            let _ = tokio::time::timeout(grace, h).await;
        }
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
