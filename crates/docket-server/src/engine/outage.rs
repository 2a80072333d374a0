//! Whether the store can be reached and can write, as this process last saw it: one
//! process-wide state, so an outage is logged once when it starts and once when it
//! ends, not once per failed request or retried step.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::domain::Timestamp;
use crate::error::{Error, Result};

/// An outage in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outage {
    /// The first failure's description.
    pub detail: String,
    pub since: Timestamp,
}

static DOWN: AtomicBool = AtomicBool::new(false);
static CURRENT: Mutex<Option<Outage>> = Mutex::new(None);

fn current_lock() -> std::sync::MutexGuard<'static, Option<Outage>> {
    CURRENT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A store call's result: `Unavailable` starts an outage, success ends one.
pub fn note<T>(r: &Result<T>) {
    match r {
        Err(Error::Unavailable(d)) => begin(d),
        Ok(_) => end(),
        Err(_) => {}
    }
}

/// The store could not be reached or could not write.
pub fn begin(detail: &str) {
    let mut cur = current_lock();
    if cur.is_none() {
        tracing::warn!(error = %detail, "the store is unavailable; answering 503 until it is back");
        *cur = Some(Outage {
            detail: detail.to_owned(),
            since: Timestamp::now(),
        });
        DOWN.store(true, Ordering::Release);
    }
}

/// The store answered (a write, a heartbeat, a readiness check): any outage is over.
pub fn end() {
    if !DOWN.load(Ordering::Acquire) {
        return;
    }
    let mut cur = current_lock();
    if let Some(o) = cur.take() {
        let ms = Timestamp::now().0.saturating_sub(o.since.0);
        tracing::info!(after_ms = ms, "the store is available again");
    }
    DOWN.store(false, Ordering::Release);
}

/// The outage in progress, if any.
pub fn current() -> Option<Outage> {
    if !DOWN.load(Ordering::Acquire) {
        return None;
    }
    current_lock().clone()
}
