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
use crate::store::{self, CommitSeq, Signal};

impl Engine {
    /// Starts listening to the other nodes (when the store is shared) and the heartbeat.
    pub(super) async fn join(
        self: &std::sync::Arc<Self>,
        stop: watch::Receiver<bool>,
    ) -> store::Result<Vec<tokio::task::JoinHandle<()>>> {
        let Some(signals) = self.store.subscribe().await? else {
            self.coherence.set_alone();
            return Ok(Vec::new());
        };
        self.beat().await?;
        let (engine, s) = (self.clone(), stop.clone());
        let listen = tokio::spawn(async move { engine.listen(signals, s).await });
        let (engine, mut s) = (self.clone(), stop);
        let beat = tokio::spawn(async move {
            let mut failing = false;
            loop {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(engine.jobs.heartbeat_ms)) => {}
                    () = engine.beat_now.notified() => {}
                    () = stopped(&mut s) => return,
                }
                // Said once when beats start failing and once when they work again.
                match engine.beat().await {
                    Err(e) if !failing => {
                        failing = true;
                        tracing::warn!(error = %e, "heartbeat failed; this node's cache lease will run out");
                    }
                    Ok(()) if failing => {
                        failing = false;
                        tracing::info!("heartbeat recorded again");
                    }
                    _ => {}
                }
            }
        });
        Ok(vec![listen, beat])
    }

    /// Records this node's heartbeat and how far it has applied; the beat comes back as
    /// a signal, which renews the cache lease.
    async fn beat(&self) -> store::Result<()> {
        let seq = self.coherence.beat();
        let applied = self.applied.load(Ordering::Acquire);
        let r = self.store.heartbeat(&self.node, applied, seq).await;
        crate::engine::outage::note(&r);
        r
    }

    async fn listen(&self, mut signals: mpsc::Receiver<Signal>, mut stop: watch::Receiver<bool>) {
        loop {
            let first = tokio::select! {
                s = signals.recv() => match s { Some(s) => s, None => return },
                () = stopped(&mut stop) => return,
            };
            let mut reached = self.apply(first).await;
            // Apply whatever else has arrived, then say how far this node got (the
            // heartbeat loop sends it, so a slow store never holds up this loop).
            while let Ok(s) = signals.try_recv() {
                reached |= self.apply(s).await;
            }
            if reached {
                self.beat_now.notify_one();
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
                if mode != Invalidation::Ttl {
                    self.cache.invalidate_before(commit);
                }
                self.applied.fetch_max(commit, Ordering::AcqRel) < commit
            }
            Signal::Beat { node, seq } => {
                if node == self.node {
                    self.coherence.heard(seq);
                }
                false
            }
            Signal::Lost => {
                self.coherence.revoke();
                false
            }
            Signal::Changes => {
                self.feed_moved();
                false
            }
            Signal::Resync { position } => {
                // Whatever was missed is at or before `position`: drop every entry read
                // before it (the cache fills again from here), and catch up on what
                // the lost signals would have said: settings, and work to do.
                self.cache.invalidate_before(position);
                self.reload_settings().await;
                self.wake();
                self.feed_moved();
                self.applied.fetch_max(position, Ordering::AcqRel) < position
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
                self.reload_settings().await;
                false
            }
        }
    }

    async fn reload_settings(&self) {
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
    }

    /// Waits until every live node has applied invalidations up to `commit`. A node whose
    /// heartbeat is older than `jobs.node_ttl_seconds` (by the store's clock) no longer
    /// counts, and no node holds a job back for longer than that: a node that has not
    /// applied the change by then has not heard its own heartbeat for that long either,
    /// so its cache lease (half the TTL, see `coherence.rs`) has run out and it reads
    /// the store. This node is not asked: it applied its own job's invalidations
    /// synchronously.
    pub async fn sync_invalidations(&self, commit: CommitSeq) -> store::Result<()> {
        let ttl = Duration::from_secs(self.jobs.node_ttl_seconds);
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let deadline = tokio::time::Instant::now() + ttl;
        loop {
            let behind = self
                .store
                .nodes_behind(commit.0, ttl_ms, &self.node)
                .await?;
            if behind == 0 {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(
                    behind,
                    commit = commit.0,
                    "nodes did not confirm invalidations within node_ttl; their cache leases have run out"
                );
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
