//! Latency statistics shared by the benchmarks.
//!
//! Every latency is kept (a benchmark of a few minutes records a few million `u64`s), so
//! the percentiles are exact, not estimated from buckets. Percentiles use the
//! nearest-rank definition: p99 is the smallest sample that is at least 99% of samples.

use std::fmt;
use std::time::Duration;

/// The latencies of one run, in nanoseconds.
#[derive(Debug, Default)]
pub struct Latencies {
    nanos: Vec<u64>,
}

impl Latencies {
    /// Room for `n` samples up front, so recording does not reallocate mid-run.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            nanos: Vec::with_capacity(n),
        }
    }

    pub fn record(&mut self, d: Duration) {
        self.nanos
            .push(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Moves `other`'s samples into `self` (one worker's into the run's).
    pub fn merge(&mut self, mut other: Latencies) {
        self.nanos.append(&mut other.nanos);
    }

    pub fn len(&self) -> usize {
        self.nanos.len()
    }

    /// Sorts the samples and summarises them; `None` when there are none.
    pub fn summary(mut self) -> Option<Summary> {
        if self.nanos.is_empty() {
            return None;
        }
        self.nanos.sort_unstable();
        let s = &self.nanos;
        let sum: u128 = s.iter().map(|&n| u128::from(n)).sum();
        Some(Summary {
            count: s.len(),
            mean: nanos(u64::try_from(sum / s.len() as u128).unwrap_or(u64::MAX)),
            min: nanos(s[0]),
            p50: nanos(percentile(s, 50.0)),
            p90: nanos(percentile(s, 90.0)),
            p99: nanos(percentile(s, 99.0)),
            max: nanos(s[s.len() - 1]),
        })
    }
}

fn nanos(n: u64) -> Duration {
    Duration::from_nanos(n)
}

/// Nearest-rank percentile of sorted, non-empty `sorted`.
fn percentile(sorted: &[u64], p: f64) -> u64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// What a run's latencies come to.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub count: usize,
    pub mean: Duration,
    pub min: Duration,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
}

/// A duration in milliseconds, for printing.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}  (mean {:.3}, n={})",
            ms(self.p50),
            ms(self.p90),
            ms(self.p99),
            ms(self.max),
            ms(self.mean),
            self.count
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_ms(values: impl IntoIterator<Item = u64>) -> Latencies {
        let mut l = Latencies::default();
        for v in values {
            l.record(Duration::from_millis(v));
        }
        l
    }

    #[test]
    fn percentiles_of_one_to_a_hundred_are_their_ranks() {
        // Shuffled on purpose: summary must sort.
        let s = from_ms((1..=100).rev()).summary().unwrap();
        assert_eq!(s.count, 100);
        assert_eq!(s.p50, Duration::from_millis(50));
        assert_eq!(s.p90, Duration::from_millis(90));
        assert_eq!(s.p99, Duration::from_millis(99));
        assert_eq!(s.max, Duration::from_millis(100));
        assert_eq!(s.min, Duration::from_millis(1));
        assert_eq!(s.mean, Duration::from_micros(50_500));
    }

    #[test]
    fn a_single_sample_is_every_percentile() {
        let s = from_ms([7]).summary().unwrap();
        assert_eq!(
            [s.min, s.p50, s.p90, s.p99, s.max],
            [Duration::from_millis(7); 5]
        );
    }

    #[test]
    fn merged_runs_are_summarised_together() {
        let mut a = from_ms([1, 2]);
        a.merge(from_ms([3, 4]));
        assert_eq!(a.len(), 4);
        assert_eq!(a.summary().unwrap().max, Duration::from_millis(4));
    }

    #[test]
    fn no_samples_no_summary() {
        assert!(Latencies::default().summary().is_none());
    }
}
