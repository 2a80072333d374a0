//! The one read path for a single case (GET and the cache), and invalidation.
//!
//! On one node the invalidations of a commit are applied synchronously: a single-case
//! write calls [`Engine::invalidate`] before it is acknowledged, and a job chunk drops
//! its cases inside its transaction (the worker's `before_commit` hook). The cluster adds
//! other nodes behind [`Engine::sync_invalidations`].

use std::time::Duration;

use super::Engine;
use super::settings::Invalidation;
use crate::domain::{Case, CaseId};
use crate::store::{self, CommitSeq};

impl Engine {
    /// Reads a case through the cache. With `token`, the answer reflects every write up to
    /// it: an entry read before the token is not used. The cache serves only while its
    /// lease holds (see `coherence.rs`); otherwise the store answers.
    pub async fn read_case(
        &self,
        id: &CaseId,
        token: Option<CommitSeq>,
    ) -> store::Result<Option<Case>> {
        let ttl = Duration::from_secs(self.settings.get().cache_timeout);
        if !ttl.is_zero() && self.coherence.trusted() {
            if let Some(c) = self
                .cache
                .get(id.as_str(), ttl, token.map(|t| t.0), self.now())
            {
                return Ok(Some(c));
            }
        }
        let (case, at) = self.store.get_case_at(id).await?;
        if let Some(c) = &case {
            if !ttl.is_zero() {
                self.cache.insert(c.clone(), at.0, self.now());
            }
        }
        Ok(case)
    }

    /// Drops cases changed at `commit` from every node's cache.
    pub fn invalidate<S: AsRef<str>>(&self, ids: &[S], commit: CommitSeq) {
        self.cache.invalidate(ids, commit.0);
    }

    /// Before a drained job is reported `completed`: in `deferred` mode, sweep every entry
    /// read before the job's last commit; with `SyncStatusAfterBulkUpdate`, wait until
    /// every live node has applied the job's invalidations.
    pub async fn job_drained(&self, last_commit: CommitSeq) -> store::Result<()> {
        let s = self.settings.get();
        let mut upto = last_commit;
        if s.bulk_update_cache_invalidation == Invalidation::Deferred {
            // A commit of its own, so every node's sweep can be confirmed.
            upto = self.store.sweep().await?;
            self.cache.invalidate_before(upto.0);
        }
        if s.sync_status_after_bulk_update && s.bulk_update_cache_invalidation != Invalidation::Ttl
        {
            self.sync_invalidations(upto).await?;
        }
        Ok(())
    }
}
