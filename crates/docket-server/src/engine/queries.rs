//! Reads the API serves, through the engine like its writes, so HTTP reaches the store
//! only through this crate's engine. A single case is read through the cache
//! ([`Engine::read_case`] in `reads.rs`); listings, pages of results and the rest are read
//! from the store as they are now.

use crate::domain::{
    ApiKey, Case, CaseFilter, CaseId, CasePosition, ConsoleSession, DeliveryView, HistoryRecord,
    ItemOutcome, ItemRecord, Job, JobState, JobStats, JobsPage, Paged, PoolStats, ResultsPage,
    Task,
};
use crate::error::Result;

use super::Engine;

impl Engine {
    pub async fn list_cases(&self, filter: CaseFilter) -> Result<Paged<Case, CasePosition>> {
        self.store.list_cases(filter).await
    }

    /// A page of a case's change log, newest first; `None` if there is no such case.
    pub async fn history(
        &self,
        id: &CaseId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Option<Paged<HistoryRecord>>> {
        self.store.history(id, before, limit).await
    }

    /// A page of a case's tasks; `None` if there is no such case.
    pub async fn list_tasks(
        &self,
        case: &CaseId,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Option<Paged<Task>>> {
        self.store.list_tasks(case, after, limit).await
    }

    /// A page of a case's comments, oldest first; `None` if there is no such case.
    pub async fn list_comments(
        &self,
        case: &CaseId,
        visibility: Option<crate::domain::Visibility>,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Option<Paged<crate::domain::Comment>>> {
        self.store
            .list_comments(case, visibility, after, limit)
            .await
    }

    /// One comment: `None` if the case does not exist, `Some(None)` if it has no such
    /// comment.
    pub async fn get_comment(
        &self,
        key: &crate::domain::CommentKey,
    ) -> Result<Option<Option<crate::domain::Comment>>> {
        self.store.get_comment(key).await
    }

    pub async fn get_job(&self, id: &str) -> Result<Option<Job>> {
        self.store.get_job(id).await
    }

    pub async fn list_jobs(
        &self,
        state: Option<JobState>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Paged<Job>> {
        self.store
            .list_jobs(JobsPage {
                state,
                before,
                limit,
            })
            .await
    }

    /// A page of a job's item results in index order; `None` if there is no such job.
    pub async fn job_results(
        &self,
        id: &str,
        outcome: Option<ItemOutcome>,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Option<Paged<ItemRecord>>> {
        self.store
            .job_results(
                id,
                ResultsPage {
                    outcome,
                    after,
                    limit,
                },
            )
            .await
    }

    /// A job's callback and its attempts; `None` if there is no such job.
    pub async fn deliveries(&self, job_id: &str) -> Result<Option<Vec<DeliveryView>>> {
        self.store.deliveries(job_id).await
    }

    pub async fn list_keys(&self) -> Result<Vec<ApiKey>> {
        self.store.list_keys().await
    }

    /// The console session of this token hash, if it is still live.
    pub async fn live_session(&self, token_hash: [u8; 32]) -> Result<Option<ConsoleSession>> {
        Ok(self
            .store
            .session(token_hash)
            .await?
            .filter(|s| s.live_at(self.now())))
    }

    /// Jobs by state and the queue depth, for `/metrics`.
    pub async fn job_stats(&self) -> Result<JobStats> {
        self.store.job_stats().await
    }

    /// Pending webhook deliveries, and when the oldest was made.
    pub async fn delivery_stats(&self) -> Result<crate::domain::webhook::DeliveryStats> {
        self.store.delivery_stats().await
    }

    pub fn pool_stats(&self) -> PoolStats {
        self.store.pool_stats()
    }

    /// Whether the store can accept writes now (not only answer), with its schema
    /// version; the outage state follows the answer (see `engine::outage`).
    pub async fn readiness(&self) -> Result<u32> {
        let version = match self.store.writable().await {
            Ok(()) => self.store.schema_version().await,
            Err(e) => Err(e),
        };
        crate::engine::outage::note(&version);
        version
    }

    /// Whether the store answers and no outage is in progress, as far as this node knows.
    pub fn store_available(&self) -> bool {
        crate::engine::outage::current().is_none()
    }
}
