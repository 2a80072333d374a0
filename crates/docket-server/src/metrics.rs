//! Prometheus metrics: a small registry of this node's counters and histograms,
//! rendered in the text exposition format (version 0.0.4) by `GET /metrics`.
//!
//! Counters here count what this node did (requests it answered, items its workers
//! applied, jobs they ended). Figures of the shared store (jobs by state, queued items)
//! are read from it at scrape time, so every node of a cluster reports the same.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::domain::{Job, JobState};

/// Request latency buckets, seconds.
const HTTP_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// Job duration buckets, seconds.
const JOB_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];

/// A histogram with fixed upper bounds (each bucket counts observations up to its
/// bound; `+Inf` is the total count).
pub struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = self.bounds.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (b, n) in self.bounds.iter().zip(&self.buckets) {
            cumulative += n.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let braces = |l: &str| {
            if l.is_empty() {
                String::new()
            } else {
                format!("{{{l}}}")
            }
        };
        let _ = writeln!(out, "{name}_sum{} {sum}", braces(labels));
        let _ = writeln!(out, "{name}_count{} {count}", braces(labels));
    }
}

/// One route's requests: a count per status and the latency histogram.
struct RouteSeries {
    statuses: Mutex<BTreeMap<u16, u64>>,
    latency: Histogram,
}

/// How many recently ended jobs are remembered, so a job's end is counted once.
const RECENT_ENDS: usize = 4096;

/// This node's metrics.
pub struct Metrics {
    /// By method label and route template: both from fixed sets (the method a
    /// `&'static str` by type), so the number of series is bounded.
    http: RwLock<BTreeMap<(&'static str, String), Arc<RouteSeries>>>,
    /// Jobs ended on this node, by end state: completed, failed, cancelled.
    jobs_ended: [AtomicU64; 3],
    /// Items of the jobs ended on this node, by outcome: succeeded, failed, cancelled.
    items_ended: [AtomicU64; 3],
    job_duration: Histogram,
    /// Reads that carried `X-Consistency-Token`.
    pub token_reads: AtomicU64,
    /// Job reads from the store for watchers (long-polls, event streams,
    /// `waitForCompletion`), shared among a job's watchers (`engine/hub.rs`).
    pub job_status_reads: AtomicU64,
    /// Requests refused with 429 `rate_limited` (`http::rate_limit`).
    pub rate_limited: AtomicU64,
    recent_ends: Mutex<(VecDeque<String>, HashSet<String>)>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            http: RwLock::default(),
            jobs_ended: Default::default(),
            items_ended: Default::default(),
            job_duration: Histogram::new(JOB_BUCKETS),
            token_reads: AtomicU64::new(0),
            job_status_reads: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            recent_ends: Mutex::default(),
        }
    }
}

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
    pub pool: crate::store::PoolStats,
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub(crate) fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

impl Metrics {
    /// Counts one answered request. `route` must be a route template or another fixed
    /// label, never a raw path.
    pub fn http(&self, method: &'static str, route: &str, status: u16, took: Duration) {
        let key = (method, route.to_owned());
        let found = self
            .http
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
            .cloned();
        let series = match found {
            Some(s) => s,
            None => self
                .http
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .entry(key)
                .or_insert_with(|| {
                    Arc::new(RouteSeries {
                        statuses: Mutex::default(),
                        latency: Histogram::new(HTTP_BUCKETS),
                    })
                })
                .clone(),
        };
        *series
            .statuses
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(status)
            .or_default() += 1;
        series.latency.observe(took);
    }

    /// Counts a job that ended on this node, once however often it is reported.
    pub fn job_ended(&self, job: &Job) {
        let slot = match job.state {
            JobState::Completed => 0,
            JobState::Failed => 1,
            JobState::Cancelled => 2,
            JobState::Queued | JobState::Running => return,
        };
        {
            let mut recent = self
                .recent_ends
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let (order, seen) = &mut *recent;
            if !seen.insert(job.id.clone()) {
                return;
            }
            order.push_back(job.id.clone());
            if order.len() > RECENT_ENDS {
                if let Some(old) = order.pop_front() {
                    seen.remove(&old);
                }
            }
        }
        self.jobs_ended[slot].fetch_add(1, Ordering::Relaxed);
        for (i, n) in [job.succeeded, job.failed, job.cancelled()]
            .into_iter()
            .enumerate()
        {
            self.items_ended[i].fetch_add(n, Ordering::Relaxed);
        }
        if let Some(end) = job.finished_at {
            let start = job.started_at.unwrap_or(job.created_at);
            let ms = u64::try_from(end.0.saturating_sub(start.0)).unwrap_or(0);
            self.job_duration.observe(Duration::from_millis(ms));
        }
    }

    /// The text exposition of every metric.
    pub fn render(&self, snap: &Snapshot) -> String {
        let mut out = String::with_capacity(8192);
        let _ = writeln!(
            out,
            "# HELP docket_build_info The running version.\n# TYPE docket_build_info gauge\ndocket_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        self.render_http(&mut out);
        crate::process_metrics::render(&mut out);
        self.render_jobs(&mut out, snap);
        render_cache(&mut out, snap);
        for (name, help, counter) in [
            (
                "docket_consistency_token_reads_total",
                "Case reads that carried X-Consistency-Token (served only from state at least that new).",
                &self.token_reads,
            ),
            (
                "docket_job_status_reads_total",
                "Job reads from the store for watchers (long-polls, event streams, waitForCompletion): one per change, shared by every watcher of the job on this node.",
                &self.job_status_reads,
            ),
            (
                "docket_rate_limited_total",
                "Requests refused with 429 rate_limited: their key's token bucket was empty.",
                &self.rate_limited,
            ),
        ] {
            header(&mut out, name, "counter", help);
            let _ = writeln!(out, "{name} {}", counter.load(Ordering::Relaxed));
        }
        let pool = snap.pool;
        header(
            &mut out,
            "docket_db_connections",
            "gauge",
            "The store's connections, by state (SQLite: the writer and the readers).",
        );
        let _ = writeln!(
            out,
            "docket_db_connections{{state=\"in_use\"}} {}",
            pool.in_use
        );
        let _ = writeln!(out, "docket_db_connections{{state=\"idle\"}} {}", pool.idle);
        if let Some(max) = pool.max {
            header(
                &mut out,
                "docket_db_connections_max",
                "gauge",
                "Most connections the store's pool opens.",
            );
            let _ = writeln!(out, "docket_db_connections_max {max}");
        }
        out
    }

    fn render_http(&self, out: &mut String) {
        let http = self
            .http
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        header(
            out,
            "docket_http_requests_total",
            "counter",
            "HTTP requests answered, by method, route template and status.",
        );
        for ((method, route), s) in http.iter() {
            let statuses = s
                .statuses
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for (status, n) in statuses.iter() {
                let _ = writeln!(
                    out,
                    "docket_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {n}",
                    escape(method),
                    escape(route)
                );
            }
        }
        header(
            out,
            "docket_http_request_duration_seconds",
            "histogram",
            "Time to answer an HTTP request (to the response head), by method and route template.",
        );
        for ((method, route), s) in http.iter() {
            let labels = format!("method=\"{}\",route=\"{}\"", escape(method), escape(route));
            s.latency
                .render(out, "docket_http_request_duration_seconds", &labels);
        }
    }

    fn render_jobs(&self, out: &mut String, snap: &Snapshot) {
        header(
            out,
            "docket_jobs",
            "gauge",
            "Jobs in the store (kept until Jobs.Retention), by state.",
        );
        for state in [
            JobState::Queued,
            JobState::Running,
            JobState::Completed,
            JobState::Failed,
            JobState::Cancelled,
        ] {
            let n = snap
                .jobs
                .iter()
                .find(|(s, _)| *s == state)
                .map_or(0, |(_, n)| *n);
            let _ = writeln!(out, "docket_jobs{{state=\"{state}\"}} {n}");
        }
        header(
            out,
            "docket_queue_items",
            "gauge",
            "Items of queued and running jobs not yet applied (the queue depth; bulk updates get 429 past jobs.max_queued_items).",
        );
        let _ = writeln!(out, "docket_queue_items {}", snap.queued_items);
        header(
            out,
            "docket_jobs_ended_total",
            "counter",
            "Jobs that ended on this node, by end state.",
        );
        for (i, state) in ["completed", "failed", "cancelled"].iter().enumerate() {
            let _ = writeln!(
                out,
                "docket_jobs_ended_total{{state=\"{state}\"}} {}",
                self.jobs_ended[i].load(Ordering::Relaxed)
            );
        }
        header(
            out,
            "docket_job_items_total",
            "counter",
            "Items of the jobs that ended on this node, by outcome.",
        );
        for (i, outcome) in ["succeeded", "failed", "cancelled"].iter().enumerate() {
            let _ = writeln!(
                out,
                "docket_job_items_total{{outcome=\"{outcome}\"}} {}",
                self.items_ended[i].load(Ordering::Relaxed)
            );
        }
        header(
            out,
            "docket_job_duration_seconds",
            "histogram",
            "From a job's start to its end, for the jobs that ended on this node.",
        );
        self.job_duration
            .render(out, "docket_job_duration_seconds", "");
    }
}

fn render_cache(out: &mut String, snap: &Snapshot) {
    for (name, help, v) in [
        (
            "docket_cache_hits_total",
            "Case reads served from this node's cache.",
            snap.cache_hits,
        ),
        (
            "docket_cache_misses_total",
            "Case reads the cache could not serve (read from the store).",
            snap.cache_misses,
        ),
        (
            "docket_cache_invalidations_total",
            "Cache entries dropped because their case changed (or a sweep).",
            snap.cache_invalidations,
        ),
        (
            "docket_cache_connection_lost_total",
            "Times this node lost its notification connection: the cache stops serving until it listens again, then drops what it read before.",
            snap.cache_connection_lost,
        ),
    ] {
        header(out, name, "counter", help);
        let _ = writeln!(out, "{name} {v}");
    }
    header(
        out,
        "docket_cache_entries",
        "gauge",
        "Cases in this node's cache.",
    );
    let _ = writeln!(out, "docket_cache_entries {}", snap.cache_entries);
    header(
        out,
        "docket_cache_trusted",
        "gauge",
        "1 while this node's cache lease holds and reads may be served from it, else 0.",
    );
    let _ = writeln!(out, "docket_cache_trusted {}", u8::from(snap.cache_trusted));
    header(
        out,
        "docket_store_available",
        "gauge",
        "1 while the store answers and accepts writes as far as this node knows, else 0 (requests get 503).",
    );
    let _ = writeln!(
        out,
        "docket_store_available {}",
        u8::from(snap.store_available)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_labels_escaped() {
        let m = Metrics::default();
        m.http("GET", "/a\"b", 200, Duration::from_millis(3));
        m.http("GET", "/a\"b", 200, Duration::from_millis(300));
        m.http("GET", "/a\"b", 404, Duration::from_millis(1));
        let text = m.render(&Snapshot::default());
        assert!(text.contains(
            "docket_http_requests_total{method=\"GET\",route=\"/a\\\"b\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "docket_http_request_duration_seconds_bucket{method=\"GET\",route=\"/a\\\"b\",le=\"0.005\"} 2"
        ));
        assert!(text.contains(
            "docket_http_request_duration_seconds_bucket{method=\"GET\",route=\"/a\\\"b\",le=\"+Inf\"} 3"
        ));
        assert!(text.contains(
            "docket_http_request_duration_seconds_count{method=\"GET\",route=\"/a\\\"b\"} 3"
        ));
    }
}
