//! Retention: finished jobs older than `Jobs.Retention` are purged, their items a batch
//! at a time so a purge never holds the writer for long; the change feed's entries
//! older than `Changes.Retention` go the same way; console sessions past their expiry
//! are deleted in the same sweep (they are refused from their expiry on anyway).

use std::time::Duration;

use tokio::sync::watch;

use super::{Engine, stopped};
use crate::domain::Timestamp;

impl Engine {
    /// Runs one purge pass to the end; returns the rows removed.
    pub async fn purge_expired(&self) -> crate::store::Result<u64> {
        let retention_ms =
            i64::try_from(self.settings.get().retention.saturating_mul(1000)).unwrap_or(i64::MAX);
        let mut total = 0;
        loop {
            let before = Timestamp(self.now().0.saturating_sub(retention_ms));
            let n = self.store.purge_jobs(before, 5_000).await?;
            if n == 0 {
                return Ok(total);
            }
            total += n;
            tokio::task::yield_now().await;
        }
    }

    /// Deletes the console sessions that have expired; returns how many.
    pub async fn purge_expired_sessions(&self) -> crate::store::Result<u64> {
        self.store.purge_sessions(self.now()).await
    }

    /// One pass of the sweep: expired jobs, then expired sessions.
    #[tracing::instrument(level = "debug", skip(self))]
    async fn sweep_once(&self) -> crate::store::Result<(u64, u64)> {
        let jobs = self.purge_expired().await? + self.purge_expired_changes().await?;
        let sessions = self.purge_expired_sessions().await?;
        Ok((jobs, sessions))
    }

    pub(super) async fn sweep(&self, mut stop: watch::Receiver<bool>) {
        let every = Duration::from_millis(self.jobs.retention_sweep_ms);
        let mut failing = false;
        loop {
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = stopped(&mut stop) => return,
            }
            match self.sweep_once().await {
                Ok((jobs, sessions)) => {
                    if std::mem::take(&mut failing) {
                        tracing::info!("retention sweep works again");
                    }
                    if jobs > 0 {
                        tracing::info!(rows = jobs, "purged expired jobs and changes");
                    }
                    if sessions > 0 {
                        tracing::debug!(sessions, "deleted expired console sessions");
                    }
                }
                // Once per outage, not once per sweep.
                Err(e) if !std::mem::replace(&mut failing, true) => {
                    tracing::warn!(error = %e, "retention sweep failed; retrying until it works");
                }
                Err(_) => {}
            }
        }
    }
}
