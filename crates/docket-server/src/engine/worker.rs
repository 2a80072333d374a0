//! Job workers. One step, [`Engine::tick`], claims the least recently worked runnable
//! job and applies one chunk of it, so every running job advances a chunk at a time and
//! a small job never waits behind a big one.

use std::time::Duration;

use tokio::sync::watch;

use std::sync::Arc;

use super::settings::Invalidation;
use super::{Engine, stopped};
use crate::domain::Timestamp;
use crate::store::{self, BeforeCommit, ChunkResult, Claim, CommitSeq, FinishDrained};

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tick {
    Worked,
    Idle,
}

impl Engine {
    /// Applies one chunk of one job, or finishes a drained job.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn tick(&self, owner: &str) -> store::Result<Tick> {
        let now = self.now();
        let candidates = self.store.runnable_jobs(owner, now, 8).await?;
        if candidates.is_empty() {
            return Ok(Tick::Idle);
        }
        let settings = self.settings.get();
        let (finish, before_commit) = self.chunk_policy(&settings);
        let clock = self.clock.clone();
        let clock: crate::domain::job_records::Now = std::sync::Arc::new(move || clock.now());
        for job_id in candidates {
            let claim = Claim {
                owner: owner.to_owned(),
                now,
                lease_until: Timestamp(
                    now.0 + i64::try_from(self.jobs.lease_seconds * 1000).unwrap_or(i64::MAX),
                ),
                chunk_size: settings.chunk_size,
                group: Duration::from_millis(self.jobs.chunk_group_ms),
                finish: finish.clone(),
                before_commit: before_commit.clone(),
                clock: clock.clone(),
            };
            match self.store.run_chunk(&job_id, claim).await? {
                ChunkResult::NotClaimed => continue,
                ChunkResult::Applied { drained, .. } => {
                    self.feed_moved();
                    if drained {
                        // Straight on to `completed`: no second claim to find it drained.
                        self.finish(&job_id).await?;
                    } else {
                        self.hub.publish(&job_id);
                    }
                    return Ok(Tick::Worked);
                }
                ChunkResult::Drained => {
                    self.finish(&job_id).await?;
                    return Ok(Tick::Worked);
                }
                ChunkResult::Ended(job) => {
                    self.feed_moved();
                    self.metrics.job_ended(&job);
                    tracing::info!(
                        job.id = %job.id, state = %job.state, total = job.total,
                        succeeded = job.succeeded, failed = job.failed, "job ended"
                    );
                    self.hub.publish(&job_id);
                    self.wake_callbacks.notify_waiters();
                    return Ok(Tick::Worked);
                }
            }
        }
        Ok(Tick::Idle)
    }

    /// Runs this node's job steps one after another until none is left (every runnable
    /// job ended or waiting on something else), as a worker would; returns how many
    /// steps did work. For tests and tools that drive jobs themselves
    /// (`jobs.workers = 0` starts no worker).
    pub async fn run_until_idle(&self) -> store::Result<u64> {
        let mut worked = 0;
        while self.step().await? == Tick::Worked {
            worked += 1;
        }
        Ok(worked)
    }

    /// One job step, as this node's stepping worker (one owner for every step, so a
    /// job it started stays its own between steps).
    pub async fn step(&self) -> store::Result<Tick> {
        self.tick(&format!("{}/step", self.node)).await
    }

    /// How a chunk meets the cache settings. In `immediate` mode the chunk drops the cases
    /// it changed from this node's cache just before its commit. Its last chunk may also
    /// complete the job unless completion must wait for something after that commit: a
    /// `deferred` sweep, or, with `SyncStatusAfterBulkUpdate`, other live nodes' caches.
    fn chunk_policy(&self, s: &super::settings::Settings) -> (FinishDrained, Option<BeforeCommit>) {
        let ttl_ms = i64::try_from(self.jobs.node_ttl_seconds * 1000).unwrap_or(i64::MAX);
        let finish = match s.bulk_update_cache_invalidation {
            Invalidation::Deferred => FinishDrained::Never,
            Invalidation::Ttl => FinishDrained::Always,
            Invalidation::Immediate if !s.sync_status_after_bulk_update => FinishDrained::Always,
            Invalidation::Immediate => FinishDrained::IfAlone {
                node: self.node.clone(),
                ttl_ms,
            },
        };
        let before_commit =
            (s.bulk_update_cache_invalidation == Invalidation::Immediate).then(|| {
                let cache = self.cache.clone();
                let hook: BeforeCommit = Arc::new(move |ids: &[String], commit: CommitSeq| {
                    cache.invalidate(ids, commit.0);
                });
                hook
            });
        (finish, before_commit)
    }

    /// Marks a drained job completed, then tells its watchers and its callback.
    #[tracing::instrument(level = "debug", skip(self))]
    async fn finish(&self, job_id: &str) -> store::Result<()> {
        if let Some(job) = self.store.get_job(job_id).await? {
            self.job_drained(crate::store::CommitSeq(job.last_commit))
                .await?;
        }
        if let Some(job) = self.store.finish_job(job_id, self.now()).await? {
            self.feed_moved();
            tracing::info!(
                job.id = %job.id, total = job.total, succeeded = job.succeeded, failed = job.failed,
                "job completed"
            );
            if job.callback_url.is_some() {
                self.wake_callbacks.notify_waiters();
            }
        }
        self.hub.publish(job_id);
        self.observe_end(job_id).await;
        Ok(())
    }

    /// A worker's loop: tick while there is work; when idle, wait for a wake-up (a
    /// submitted job) or the poll interval (expired leases, other nodes' jobs). A step
    /// that fails is retried after a growing pause (up to 5 s); the failure is logged
    /// when it starts or changes and when steps work again, and shown in the status of
    /// unfinished jobs meanwhile ([`Engine::stall`]).
    pub(super) async fn work(&self, index: usize, mut stop: watch::Receiver<bool>) {
        let owner = format!("{}/w{index}", self.node);
        let poll = Duration::from_millis(self.jobs.poll_interval_ms);
        let mut failing: Option<String> = None;
        let mut pause = poll;
        loop {
            if *stop.borrow() {
                return;
            }
            let notified = self.wake_workers.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let result = self.tick(&owner).await;
            if let Ok(Tick::Worked) = result {
                crate::engine::outage::end();
            }
            match result {
                Ok(t) => {
                    if failing.take().is_some() {
                        tracing::info!(worker = %owner, "job steps work again");
                        self.set_stall(None);
                    }
                    pause = poll;
                    if t == Tick::Worked {
                        continue;
                    }
                }
                Err(e) => {
                    let text = e.to_string();
                    if failing.as_deref() != Some(text.as_str()) {
                        tracing::warn!(error = %text, worker = %owner, "job step failed; retrying until it works");
                        self.set_stall(Some(&e));
                        failing = Some(text);
                    }
                    pause = (pause * 2).clamp(poll, Duration::from_secs(5).max(poll));
                }
            }
            let wait = if failing.is_some() { pause } else { poll };
            tokio::select! {
                () = notified, if failing.is_none() => {}
                () = tokio::time::sleep(wait) => {}
                () = stopped(&mut stop) => return,
            }
        }
    }
}
