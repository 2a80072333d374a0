//! Job watchers: long-polls, SSE streams and `waitForCompletion` wait here for a job to
//! change instead of polling the store.
//!
//! A change is only a signal (a counter), so a signal may come from this node's worker
//! or, in a cluster, from another node through the store's notification channel. The
//! store stays the truth, but the job is read from it once per change for every watcher
//! of that job on this node, not once per watcher: the first watcher to wake reads it
//! and the others take that read ([`JobHub::read`]). 300 streams on one job cost one read
//! per change, not 300.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::domain::Job;
use crate::store::{self, Store};

/// One watched job: its change counter and its last read.
#[derive(Debug)]
struct Watched {
    changes: watch::Sender<u64>,
    /// Held across the store read, so concurrent watchers wait for the first one's read
    /// instead of making their own.
    last_read: tokio::sync::Mutex<Option<LastRead>>,
}

#[derive(Debug)]
struct LastRead {
    /// The change counter when the read began: the read is at least that new.
    seq: u64,
    at: Instant,
    job: Option<Job>,
}

#[derive(Debug, Default)]
pub struct JobHub {
    watchers: Mutex<HashMap<String, Arc<Watched>>>,
}

impl JobHub {
    fn watched(&self, job_id: &str) -> Arc<Watched> {
        let mut map = self.watchers.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() > 1024 {
            map.retain(|_, w| w.changes.receiver_count() > 0);
        }
        map.entry(job_id.to_owned())
            .or_insert_with(|| {
                Arc::new(Watched {
                    changes: watch::channel(0).0,
                    last_read: tokio::sync::Mutex::new(None),
                })
            })
            .clone()
    }

    /// A receiver that changes whenever the job is published after this call.
    pub fn subscribe(&self, job_id: &str) -> watch::Receiver<u64> {
        self.watched(job_id).changes.subscribe()
    }

    /// Signals that the job changed.
    pub fn publish(&self, job_id: &str) {
        let mut map = self.watchers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(w) = map.get(job_id) {
            w.changes.send_modify(|v| *v += 1);
            if w.changes.receiver_count() == 0 {
                map.remove(job_id);
            }
        }
    }

    /// The job as of its latest change: the last read if it began after that change
    /// and is younger than `max_age`, else a fresh read from `store` that the other
    /// watchers then share. `max_age` (the poll interval) bounds how stale a read may be
    /// when a change on another node arrives with no signal. `reads` counts the store
    /// reads.
    pub async fn read(
        &self,
        store: &dyn Store,
        job_id: &str,
        max_age: Duration,
        reads: &prometheus_client::metrics::counter::Counter,
    ) -> store::Result<Option<Job>> {
        let watched = self.watched(job_id);
        let mut last = watched.last_read.lock().await;
        let seq = *watched.changes.borrow();
        if let Some(l) = last
            .as_ref()
            .filter(|l| l.seq >= seq && l.at.elapsed() < max_age)
        {
            return Ok(l.job.clone());
        }
        reads.inc();
        let job = store.get_job(job_id).await?;
        *last = Some(LastRead {
            seq,
            at: Instant::now(),
            job: job.clone(),
        });
        Ok(job)
    }
}
