//! Prometheus metrics, kept by the maintained `prometheus-client` library and served
//! by `GET /metrics` in the OpenMetrics text format (which Prometheus scrapes as it
//! is; a plain-text scraper reads it too).
//!
//! Counters here count what this node did (requests it answered, items its workers
//! applied, jobs they ended). Figures of the shared store (jobs by state, queued items)
//! and of the cache are read at scrape time ([`Snapshot`]), so every node of a cluster
//! reports the same store figures; the standard `process_*` metrics are read from
//! `/proc/self` then too ([`process`]).
//!
//! Every label value comes from a fixed set (standard methods, route templates, states,
//! outcomes, status codes): the library writes label values as they are, and a value
//! taken from a request would let any caller add series kept for the process's life.

mod process;
mod scrape;

pub use scrape::Snapshot;
use scrape::constant;

use std::collections::{HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::MatchedPath;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::domain::{Job, JobState};

/// The `Content-Type` of `GET /metrics`.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Request latency buckets, seconds.
const HTTP_BUCKETS: [f64; 15] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// Job duration buckets, seconds.
const JOB_BUCKETS: [f64; 12] = [
    0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];

fn http_histogram() -> Histogram {
    Histogram::new(HTTP_BUCKETS)
}

/// The route label of a request: the template it matched (`/api/v1/cases/{caseId}`),
/// or `unmatched`, never the raw path, so ids do not become labels. Holds axum's
/// `MatchedPath` (a shared string), so labelling a request allocates nothing.
#[derive(Clone, Debug)]
pub struct Route(Option<MatchedPath>);

impl Route {
    /// The label of a request that matched no route.
    pub const UNMATCHED: &'static str = "unmatched";

    pub fn of(matched: Option<&MatchedPath>) -> Self {
        Self(matched.cloned())
    }

    pub fn unmatched() -> Self {
        Self(None)
    }

    pub fn as_str(&self) -> &str {
        self.0.as_ref().map_or(Self::UNMATCHED, MatchedPath::as_str)
    }
}

impl PartialEq for Route {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Route {}

impl Hash for Route {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl EncodeLabelValue for Route {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: Route,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: Route,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

/// Buckets of the feed's lag, seconds.
const FEED_LAG_BUCKETS: [f64; 10] = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0, 5.0];

/// How many recently ended jobs are remembered, so a job's end is counted once.
const RECENT_ENDS: usize = 4096;

/// This node's metrics: the registry and handles on what it holds.
pub struct Metrics {
    registry: Registry,
    http_requests: Family<RequestLabels, Counter>,
    http_duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    /// Jobs ended on this node, by end state: completed, failed, cancelled.
    jobs_ended: Family<StateLabel, Counter>,
    /// Items of the jobs ended on this node, by outcome: succeeded, failed, cancelled.
    items_ended: Family<OutcomeLabel, Counter>,
    job_duration: Histogram,
    /// Reads that carried `X-Consistency-Token`.
    pub token_reads: Counter,
    /// Job reads from the store for watchers (long-polls, event streams,
    /// `waitForCompletion`), shared among a job's watchers (`engine/hub.rs`).
    pub job_status_reads: Counter,
    /// Requests refused with 429 `rate_limited` (`http::rate_limit`).
    pub rate_limited: Counter,
    /// Webhook attempts made by this node, by outcome: succeeded, retry, failed.
    webhook_attempts: Family<OutcomeLabel, Counter>,
    /// From a change's time to a long-poll or stream on this node handing it out.
    pub feed_lag: Histogram,
    recent_ends: Mutex<(VecDeque<String>, HashSet<String>)>,
}

impl Default for Metrics {
    fn default() -> Self {
        // `register` ends each help text with a full stop of its own.
        let mut registry = Registry::default();
        let build_info = Family::<[(&'static str, &'static str); 1], Gauge>::default();
        build_info
            .get_or_create(&[("version", env!("CARGO_PKG_VERSION"))])
            .set(1);
        registry.register("docket_build_info", "The running version", build_info);
        let http_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "docket_http_requests",
            "HTTP requests answered, by method, route template and status",
            http_requests.clone(),
        );
        let http_duration: Family<RouteLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(http_histogram);
        registry.register(
            "docket_http_request_duration_seconds",
            "Time to answer an HTTP request (to the response head), by method and route template",
            http_duration.clone(),
        );
        registry.register_collector(Box::new(process::Process));
        let jobs_ended = Family::<StateLabel, Counter>::default();
        registry.register(
            "docket_jobs_ended",
            "Jobs that ended on this node, by end state",
            jobs_ended.clone(),
        );
        let items_ended = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "docket_job_items",
            "Items of the jobs that ended on this node, by outcome",
            items_ended.clone(),
        );
        // Every state and outcome is shown from the start, at zero.
        for state in ["completed", "failed", "cancelled"] {
            let _ = jobs_ended.get_or_create(&StateLabel { state });
        }
        for outcome in ["succeeded", "failed", "cancelled"] {
            let _ = items_ended.get_or_create(&OutcomeLabel { outcome });
        }
        let job_duration = Histogram::new(JOB_BUCKETS);
        registry.register(
            "docket_job_duration_seconds",
            "From a job's start to its end, for the jobs that ended on this node",
            job_duration.clone(),
        );
        let token_reads = Counter::default();
        registry.register(
            "docket_consistency_token_reads",
            "Case reads that carried X-Consistency-Token (served only from state at least that new)",
            token_reads.clone(),
        );
        let job_status_reads = Counter::default();
        registry.register(
            "docket_job_status_reads",
            "Job reads from the store for watchers (long-polls, event streams, waitForCompletion): one per change, shared by every watcher of the job on this node",
            job_status_reads.clone(),
        );
        let rate_limited = Counter::default();
        registry.register(
            "docket_rate_limited",
            "Requests refused with 429 rate_limited: their key's token bucket was empty",
            rate_limited.clone(),
        );
        let webhook_attempts = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "docket_webhook_deliveries",
            "Webhook delivery attempts made by this node, by outcome (succeeded; retry: failed, tried again later; failed: failed for good)",
            webhook_attempts.clone(),
        );
        for outcome in ["succeeded", "retry", "failed"] {
            let _ = webhook_attempts.get_or_create(&OutcomeLabel { outcome });
        }
        let feed_lag = Histogram::new(FEED_LAG_BUCKETS);
        registry.register(
            "docket_feed_lag_seconds",
            "From a change's commit to a waiting long-poll or event stream on this node handing it out",
            feed_lag.clone(),
        );
        Self {
            registry,
            http_requests,
            http_duration,
            jobs_ended,
            items_ended,
            job_duration,
            token_reads,
            job_status_reads,
            rate_limited,
            webhook_attempts,
            feed_lag,
            recent_ends: Mutex::default(),
        }
    }
}

impl Metrics {
    /// Counts one answered request. `method` is a fixed label
    /// (`http::observe::method_label`), `route` a template or `unmatched`.
    pub fn http(&self, method: &'static str, route: Route, status: u16, took: Duration) {
        let labels = RequestLabels {
            method,
            route,
            status,
        };
        self.http_requests.get_or_create(&labels).inc();
        let RequestLabels { route, .. } = labels;
        self.http_duration
            .get_or_create(&RouteLabels { method, route })
            .observe(took.as_secs_f64());
    }

    /// Counts one webhook attempt: `succeeded`, `retry` or `failed`.
    pub fn webhook_attempt(&self, outcome: &'static str) {
        self.webhook_attempts
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }

    /// Counts a job that ended on this node, once however often it is reported.
    pub fn job_ended(&self, job: &Job) {
        let state = match job.state {
            JobState::Completed => "completed",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
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
        self.jobs_ended.get_or_create(&StateLabel { state }).inc();
        for (outcome, n) in [
            ("succeeded", job.succeeded),
            ("failed", job.failed),
            ("cancelled", job.cancelled()),
        ] {
            self.items_ended
                .get_or_create(&OutcomeLabel { outcome })
                .inc_by(n);
        }
        if let Some(end) = job.finished_at {
            let start = job.started_at.unwrap_or(job.created_at);
            let ms = u64::try_from(end.0.saturating_sub(start.0)).unwrap_or(0);
            self.job_duration
                .observe(Duration::from_millis(ms).as_secs_f64());
        }
    }

    /// The OpenMetrics text of every metric: this node's registry, then the figures of
    /// `snap`, then `# EOF`.
    pub fn render(&self, snap: Snapshot) -> String {
        let mut out = String::with_capacity(16 * 1024);
        let mut scrape = Registry::default();
        scrape.register_collector(Box::new(snap));
        // Writing to a `String` cannot fail, and every value here is in range.
        let _ = prometheus_client::encoding::text::encode_registry(&mut out, &self.registry)
            .and_then(|()| prometheus_client::encoding::text::encode(&mut out, &scrape));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_fixed_labels_and_histograms_are_cumulative() {
        let m = Metrics::default();
        let r = Route::unmatched;
        m.http("GET", r(), 200, Duration::from_millis(3));
        m.http("GET", r(), 200, Duration::from_millis(300));
        m.http("GET", r(), 404, Duration::from_millis(1));
        let text = m.render(Snapshot::default());
        for line in [
            "docket_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"200\"} 2",
            "docket_http_request_duration_seconds_bucket{le=\"0.005\",method=\"GET\",route=\"unmatched\"} 2",
            "docket_http_request_duration_seconds_bucket{le=\"+Inf\",method=\"GET\",route=\"unmatched\"} 3",
            "docket_http_request_duration_seconds_count{method=\"GET\",route=\"unmatched\"} 3",
            "docket_jobs_ended_total{state=\"failed\"} 0",
            "docket_jobs{state=\"queued\"} 0",
            "docket_build_info{version=\"",
            "docket_store_available 0",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }
}
