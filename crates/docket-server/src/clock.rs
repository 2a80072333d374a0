//! Time as the engine reads it. The server runs on [`SystemClock`]; tests run the real
//! server on a [`ShiftedClock`] and move it forward to see what time-driven behaviour
//! (retention, cache timeouts, rate limits on redelivery) does, instead of sleeping.
//! The stores take time from their callers and never read a clock of their own.

use std::sync::atomic::{AtomicI64, Ordering};

use crate::domain::Timestamp;

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    fn now(&self) -> Timestamp;
}

/// The system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// The system's clock plus an offset that only grows: time keeps moving as it does
/// (leases, heartbeats and timeouts still run), and a test can jump it ahead.
#[derive(Debug, Default)]
pub struct ShiftedClock {
    offset_ms: AtomicI64,
}

impl ShiftedClock {
    /// Moves the clock `by` forward.
    pub fn advance(&self, by: std::time::Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> Timestamp {
        Timestamp(
            Timestamp::now()
                .0
                .saturating_add(self.offset_ms.load(Ordering::SeqCst)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shifted_clock_runs_ahead_by_what_it_was_moved() {
        let c = ShiftedClock::default();
        let before = SystemClock.now();
        c.advance(std::time::Duration::from_secs(60));
        let shifted = c.now();
        assert!(shifted.0 >= before.0 + 60_000);
        assert!(shifted.0 < SystemClock.now().0 + 61_000);
    }
}
