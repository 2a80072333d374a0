//! The engine: job workers, job watchers, callbacks and retention, around the store.
//!
//! Started once per `docket serve` by [`Engine::spawn`]; every background loop stops when
//! the shutdown signal flips.

pub mod cache;
pub mod callbacks;
pub mod coherence;
pub mod feed;
pub mod hub;
pub mod keys;
mod nodes;
pub mod outage;
mod queries;
mod reads;
mod retention;
pub mod settings;
pub mod targets;
mod webhook_delivery;
pub mod webhooks;
pub mod worker;
mod writes;

pub use writes::Committed;

use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::config::{CallbacksConfig, JobsConfig, WebhooksConfig};
use crate::domain::{Job, random_hex};
use crate::store::{self, Store};
use hub::JobHub;
use settings::SettingsHandle;

pub struct Engine {
    /// The time every engine step reads (a test moves it; see `clock.rs`).
    pub clock: Arc<dyn crate::clock::Clock>,
    pub store: Arc<dyn Store>,
    pub cache: Arc<cache::CaseCache>,
    /// Whether the cache may serve reads now (the cache lease).
    pub coherence: coherence::Coherence,
    pub settings: SettingsHandle,
    /// The configured settings, under which stored changes are applied on reload.
    base_settings: settings::Settings,
    pub hub: JobHub,
    /// Invalidations up to this commit are applied to this node's cache.
    applied: AtomicI64,
    /// This process's name in leases: `node-<random>`.
    pub node: String,
    pub jobs: JobsConfig,
    pub callbacks: CallbacksConfig,
    pub webhooks: WebhooksConfig,
    /// `callbacks.allowed_hosts`, parsed once (webhook URLs follow it too).
    pub allowed_hosts: Arc<targets::AllowList>,
    /// When each job's callback was last redelivered on request (the rate limit).
    redelivered: std::sync::Mutex<std::collections::HashMap<String, crate::domain::Timestamp>>,
    wake_workers: Notify,
    wake_callbacks: Notify,
    wake_webhooks: Notify,
    /// Sends a heartbeat now (after signals moved how far this node has applied).
    beat_now: Notify,
    http: reqwest::Client,
    /// Flips to true when the server shuts down: waiters answer with what they have.
    stopping: watch::Sender<bool>,
    /// Moves on every commit this node makes or hears of that recorded changes: the
    /// feed's long-polls and streams read again.
    feed: watch::Sender<u64>,
    /// This node's counters for `/metrics`.
    pub metrics: crate::metrics::Metrics,
    /// Why this node's workers cannot move jobs on, while they cannot.
    stall: std::sync::Mutex<Option<Stall>>,
}

pub use crate::domain::Stall;

impl Engine {
    /// Now, by the engine's clock.
    pub fn now(&self) -> crate::domain::Timestamp {
        self.clock.now()
    }

    /// An engine over `store` with the `jobs`, `callbacks`, `webhooks` and `cache`
    /// sections of `config`.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn crate::clock::Clock>,
        settings: SettingsHandle,
        base_settings: settings::Settings,
        config: &crate::config::Config,
    ) -> anyhow::Result<Arc<Self>> {
        let (jobs, callbacks, webhooks): (JobsConfig, CallbacksConfig, WebhooksConfig) = (
            config.jobs.clone(),
            config.callbacks.clone(),
            config.webhooks.clone(),
        );
        let cache_capacity = config.cache.capacity;
        let allowed_hosts = Arc::new(targets::AllowList::new(&callbacks.allowed_hosts));
        let http = reqwest::Client::builder()
            .user_agent(concat!("docket/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            // Callbacks go straight to their receiver, through the resolver that refuses
            // metadata, link-local and unlisted private addresses (a proxy would resolve
            // names itself).
            .no_proxy()
            .dns_resolver(targets::GuardedResolver(allowed_hosts.clone()))
            .build()?;
        Ok(Arc::new(Self {
            store,
            clock,
            cache: Arc::new(cache::CaseCache::new(cache_capacity)),
            coherence: coherence::Coherence::new(Duration::from_secs(jobs.node_ttl_seconds)),
            settings,
            base_settings,
            hub: JobHub::default(),
            applied: AtomicI64::new(0),
            node: format!("node-{}", random_hex(6)),
            jobs,
            callbacks,
            webhooks,
            allowed_hosts,
            redelivered: std::sync::Mutex::default(),
            wake_workers: Notify::new(),
            wake_callbacks: Notify::new(),
            wake_webhooks: Notify::new(),
            beat_now: Notify::new(),
            http,
            stopping: watch::Sender::new(false),
            feed: watch::Sender::new(0),
            metrics: crate::metrics::Metrics::default(),
            stall: std::sync::Mutex::new(None),
        }))
    }

    /// Joins the other nodes (if any), then starts the workers, the callback dispatcher
    /// and the retention sweeper.
    pub async fn spawn(
        self: &Arc<Self>,
        shutdown: watch::Receiver<bool>,
    ) -> store::Result<Vec<JoinHandle<()>>> {
        let mut handles = self.join(shutdown.clone()).await?;
        for i in 0..self.jobs.workers {
            let (engine, stop) = (self.clone(), shutdown.clone());
            handles.push(tokio::spawn(async move { engine.work(i, stop).await }));
        }
        let (engine, stop) = (self.clone(), shutdown.clone());
        handles.push(tokio::spawn(async move {
            engine.dispatch_callbacks(stop).await
        }));
        let (engine, stop) = (self.clone(), shutdown.clone());
        handles.push(tokio::spawn(
            async move { engine.deliver_webhooks(stop).await },
        ));
        let (engine, stop) = (self.clone(), shutdown);
        handles.push(tokio::spawn(async move { engine.sweep(stop).await }));
        Ok(handles)
    }

    /// Starts shutting down: background loops stop after their current step, and
    /// long-polls and event streams answer with what they have.
    pub fn stop(&self) {
        self.store.winding_down();
        self.stopping.send_replace(true);
    }

    /// Turns true when the server starts shutting down.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    /// Tells idle workers there is work.
    pub fn wake(&self) {
        self.wake_workers.notify_waiters();
    }

    /// Counts a job this node ended (by its chunk or by finishing it) in `/metrics`.
    pub async fn observe_end(&self, job_id: &str) {
        if let Ok(Some(job)) = self.store.get_job(job_id).await {
            self.metrics.job_ended(&job);
        }
    }

    /// Why unfinished jobs are not moving on this node now, if they are not.
    pub fn stall(&self) -> Option<Stall> {
        self.stall
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn set_stall(&self, error: Option<&store::Error>) {
        let stall = error.map(|e| match e {
            store::Error::Unavailable(d) => Stall {
                code: docket_api::codes::SERVICE_UNAVAILABLE,
                detail: format!(
                    "the store is unavailable: {d}; the job resumes by itself when it is back"
                ),
                since: self.now(),
            },
            _ => Stall {
                code: docket_api::codes::INTERNAL,
                detail: "job steps fail on this node; see its log".into(),
                since: self.now(),
            },
        });
        *self
            .stall
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = stall;
    }

    /// Tells the callback dispatcher a delivery is due.
    /// Whether a job's callback may be redelivered on request now: at most once per
    /// `REDELIVER_INTERVAL` per job on this node, so a caller cannot turn a receiver
    /// into a target of docket's own requests. `Err` says how long to wait.
    pub fn redeliver_permit(&self, job_id: &str) -> Result<(), Duration> {
        const REDELIVER_INTERVAL: Duration = Duration::from_secs(1);
        let now = self.now();
        let since = |t: &crate::domain::Timestamp| {
            Duration::from_millis(u64::try_from(now.0.saturating_sub(t.0)).unwrap_or(0))
        };
        let mut map = self
            .redelivered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(last) = map.get(job_id) {
            let since = since(last);
            if since < REDELIVER_INTERVAL {
                return Err(REDELIVER_INTERVAL - since);
            }
        }
        // Entries older than the interval limit nothing: drop them so the map stays small.
        if map.len() > 1024 {
            map.retain(|_, t| since(t) < REDELIVER_INTERVAL);
        }
        map.insert(job_id.to_owned(), now);
        Ok(())
    }

    pub fn wake_callbacks(&self) {
        self.wake_callbacks.notify_waiters();
    }

    /// The job as of its latest change, for a watcher (long-poll, event stream): read
    /// once per change for all of this node's watchers of the job (see [`JobHub::read`]).
    pub async fn watched_job(&self, job_id: &str) -> store::Result<Option<Job>> {
        self.hub
            .read(
                self.store.as_ref(),
                job_id,
                Duration::from_millis(self.jobs.poll_interval_ms),
                &self.metrics.job_status_reads,
            )
            .await
    }

    /// Waits until the job ends or `timeout` passes; returns the job as it then is.
    pub async fn wait_finished(
        &self,
        job_id: &str,
        timeout: Duration,
    ) -> store::Result<Option<Job>> {
        let mut changed = self.hub.subscribe(job_id);
        let mut stopping = self.stopping();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let Some(job) = self.watched_job(job_id).await? else {
                return Ok(None);
            };
            if job.state.is_finished()
                || tokio::time::Instant::now() >= deadline
                || *stopping.borrow_and_update()
            {
                return Ok(Some(job));
            }
            tokio::select! {
                _ = changed.changed() => {}
                _ = stopping.changed() => {}
                () = tokio::time::sleep_until(deadline) => {}
                // Another node may finish the job without this node's hub hearing of it.
                () = tokio::time::sleep(Duration::from_millis(self.jobs.poll_interval_ms)) => {}
            }
        }
    }
}

/// Waits for `stop` to flip to true (or its sender to go).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}
