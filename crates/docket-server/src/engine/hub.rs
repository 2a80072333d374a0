//! Job watchers: long-polls, SSE streams and `waitForCompletion` wait here for a job to
//! change instead of polling the store.
//!
//! A change is only a signal (a counter); watchers reload the job from the store, which
//! is the truth. So a signal may come from this node's worker or, in a cluster, from
//! another node through the store's notification channel.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::watch;

#[derive(Debug, Default)]
pub struct JobHub {
    watchers: Mutex<HashMap<String, watch::Sender<u64>>>,
}

impl JobHub {
    /// A receiver that changes whenever the job is published after this call.
    pub fn subscribe(&self, job_id: &str) -> watch::Receiver<u64> {
        let mut map = self
            .watchers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() > 1024 {
            map.retain(|_, tx| tx.receiver_count() > 0);
        }
        map.entry(job_id.to_owned())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Signals that the job changed.
    pub fn publish(&self, job_id: &str) {
        let mut map = self
            .watchers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(tx) = map.get(job_id) {
            tx.send_modify(|v| *v += 1);
            if tx.receiver_count() == 0 {
                map.remove(job_id);
            }
        }
    }
}
