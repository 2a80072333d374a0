//! The figures read at scrape time from outside the registry ([`Snapshot`]: the store's
//! jobs and queue, the cache, the pool), written as constant metrics.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::domain::JobState;

/// Figures read at scrape time from outside the registry.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Jobs in the store by state.
    pub jobs: Vec<(JobState, u64)>,
    /// Unprocessed items of queued and running jobs.
    pub queued_items: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub cache_invalidations: u64,
    pub cache_entries: u64,
    /// Whether the cache may serve reads now (its lease holds).
    pub cache_trusted: bool,
    /// Times this node lost its notification connection (and flushed its cache).
    pub cache_connection_lost: u64,
    /// Whether the store answered this scrape and no outage is in progress.
    pub store_available: bool,
    pub pool: crate::domain::PoolStats,
    /// Webhook deliveries not yet delivered (or failed for good).
    pub webhook_pending: u64,
    /// Age of the oldest of them, seconds (0 when none).
    pub webhook_oldest_pending_seconds: f64,
}

/// Writes one unlabelled constant metric.
pub(super) fn constant(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    metric: &(impl EncodeMetric + prometheus_client::metrics::TypedMetric),
) -> Result<(), std::fmt::Error> {
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let e = &mut encoder;
        let mut jobs = e.encode_descriptor(
            "docket_jobs",
            "Jobs in the store (kept until Jobs.Retention), by state.",
            None,
            MetricType::Gauge,
        )?;
        for state in [
            JobState::Queued,
            JobState::Running,
            JobState::Completed,
            JobState::Failed,
            JobState::Cancelled,
        ] {
            let n = self
                .jobs
                .iter()
                .find(|(s, _)| *s == state)
                .map_or(0, |(_, n)| *n);
            let label = state.to_string();
            ConstGauge::new(n).encode(jobs.encode_family(&[("state", label.as_str())])?)?;
        }
        constant(
            e,
            "docket_queue_items",
            "Items of queued and running jobs not yet applied (the queue depth; bulk updates get 429 past jobs.max_queued_items).",
            &ConstGauge::new(self.queued_items),
        )?;
        for (name, help, v) in [
            (
                "docket_cache_hits",
                "Case reads served from this node's cache.",
                self.cache_hits,
            ),
            (
                "docket_cache_misses",
                "Case reads the cache could not serve (read from the store).",
                self.cache_misses,
            ),
            (
                "docket_cache_invalidations",
                "Cache entries dropped because their case changed (or a sweep).",
                self.cache_invalidations,
            ),
            (
                "docket_cache_connection_lost",
                "Times this node lost its notification connection: the cache stops serving until it listens again, then drops what it read before.",
                self.cache_connection_lost,
            ),
        ] {
            constant(e, name, help, &ConstCounter::new(v))?;
        }
        for (name, help, v) in [
            (
                "docket_cache_entries",
                "Cases in this node's cache.",
                self.cache_entries,
            ),
            (
                "docket_cache_trusted",
                "1 while this node's cache lease holds and reads may be served from it, else 0.",
                u64::from(self.cache_trusted),
            ),
            (
                "docket_store_available",
                "1 while the store answers and accepts writes as far as this node knows, else 0 (requests get 503).",
                u64::from(self.store_available),
            ),
        ] {
            constant(e, name, help, &ConstGauge::new(v))?;
        }
        constant(
            e,
            "docket_webhook_deliveries_pending",
            "Webhook deliveries waiting for their first attempt or a retry.",
            &ConstGauge::new(self.webhook_pending),
        )?;
        constant(
            e,
            "docket_webhook_oldest_pending_seconds",
            "Age of the oldest pending webhook delivery (0 when none).",
            &ConstGauge::new(self.webhook_oldest_pending_seconds),
        )?;
        let pool = self.pool;
        let mut conns = e.encode_descriptor(
            "docket_db_connections",
            "The store's connections, by state (SQLite: the writer and the readers).",
            None,
            MetricType::Gauge,
        )?;
        for (state, n) in [("in_use", pool.in_use), ("idle", pool.idle)] {
            ConstGauge::new(n).encode(conns.encode_family(&[("state", state)])?)?;
        }
        if let Some(max) = pool.max {
            constant(
                e,
                "docket_db_connections_max",
                "Most connections the store's pool opens.",
                &ConstGauge::new(max),
            )?;
        }
        Ok(())
    }
}
