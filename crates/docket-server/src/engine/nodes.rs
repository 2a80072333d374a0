//! This node among others: it applies the signals every node sends (invalidations,
//! job wake-ups and progress, settings), records how far it has applied them, and waits
//! for the others before a job may say `completed`.
//!
//! With a single-node store there are no signals and no other nodes: the waits return
//! at once, and the node's own invalidations were applied synchronously already.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::settings::Invalidation;
use super::{Engine, stopped};
use crate::domain::Timestamp;
use crate::store::{self, CommitSeq, Signal};

impl Engine {
    /// Starts listening to the other nodes (when the store is shared) and the heartbeat.
    pub(super) async fn join(
        self: &std::sync::Arc<Self>,
        stop: watch::Receiver<bool>,
    ) -> store::Result<Vec<tokio::task::JoinHandle<()>>> {
        let Some(signals) = self.store.subscribe().await? else {
            return Ok(Vec::new());
        };
        self.beat().await?;
        let (engine, s) = (self.clone(), stop.clone());
        let listen = tokio::spawn(async move { engine.listen(signals, s).await });
        let (engine, mut s) = (self.clone(), stop);
        let beat = tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(engine.jobs.heartbeat_ms)) => {}
                    () = stopped(&mut s) => return,
                }
                if let Err(e) = engine.beat().await {
                    tracing::warn!(error = %e, "heartbeat failed");
                }
            }
        });
        Ok(vec![listen, beat])
    }

    async fn beat(&self) -> store::Result<()> {
        self.store
            .heartbeat(
                &self.node,
                self.applied.load(Ordering::Acquire),
                Timestamp::now(),
            )
            .await
    }

    async fn listen(&self, mut signals: mpsc::Receiver<Signal>, mut stop: watch::Receiver<bool>) {
        loop {
            let first = tokio::select! {
                s = signals.recv() => match s { Some(s) => s, None => return },
                () = stopped(&mut stop) => return,
            };
            let mut reached = self.apply(first).await;
            // Apply whatever else has arrived, then say how far this node got.
            while let Ok(s) = signals.try_recv() {
                reached |= self.apply(s).await;
            }
            if reached {
                if let Err(e) = self.beat().await {
                    tracing::warn!(error = %e, "recording applied invalidations failed");
                }
            }
        }
    }

    /// Applies one signal; true if it moved this node's applied commit.
    async fn apply(&self, signal: Signal) -> bool {
        let mode = self.settings.get().bulk_update_cache_invalidation;
        match signal {
            Signal::Invalidate {
                commit,
                by_job,
                keys,
            } => {
                if !by_job || mode == Invalidation::Immediate {
                    self.cache.invalidate(&keys, commit);
                }
                self.applied.fetch_max(commit, Ordering::AcqRel) < commit
            }
            Signal::Sweep { commit } => {
                if mode != Invalidation::Ttl || commit == i64::MAX {
                    self.cache.invalidate_before(commit);
                }
                commit != i64::MAX && self.applied.fetch_max(commit, Ordering::AcqRel) < commit
            }
            Signal::Job(id) => {
                self.hub.publish(&id);
                false
            }
            Signal::Queued => {
                self.wake();
                false
            }
            Signal::Settings => {
                match self
                    .store
                    .load_settings()
                    .await
                    .map(|saved| self.base_settings.patched(&saved))
                {
                    Ok(Ok(s)) => self.settings.set(s),
                    Ok(Err(e)) => tracing::warn!(error = ?e, "ignoring invalid stored settings"),
                    Err(e) => tracing::warn!(error = %e, "reloading settings failed"),
                }
                false
            }
        }
    }

    /// Waits until every live node has applied invalidations up to `commit`. A node whose
    /// heartbeat is older than `jobs.node_ttl_seconds` no longer counts, so a dead node
    /// never holds a job back for longer than that.
    /// This node is not asked: it applied its own job's invalidations synchronously.
    pub async fn sync_invalidations(&self, commit: CommitSeq) -> store::Result<()> {
        let ttl = Duration::from_secs(self.jobs.node_ttl_seconds);
        let deadline = tokio::time::Instant::now() + ttl;
        loop {
            let live_since =
                Timestamp(Timestamp::now().0 - i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
            let behind = self
                .store
                .nodes_behind(commit.0, live_since, &self.node)
                .await?;
            if behind == 0 {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(
                    behind,
                    commit = commit.0,
                    "nodes did not confirm invalidations in time"
                );
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
