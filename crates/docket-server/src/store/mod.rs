//! Persistence: the [`Store`] trait and its backends.
//!
//! A store only persists: every rule about how a case may change lives in
//! [`crate::domain`], which the store calls inside its transaction. Each method is one
//! unit of work. Driver errors stop here, mapped to [`Error`].

mod case_list;
pub(crate) mod decode;
pub mod keys;
mod postgres;
mod signal;
pub(crate) mod sql;
pub(crate) mod thin;
mod webhook_rows;
mod webhook_store;
pub use webhook_store::{FeedStore, WebhookStore};
mod comment_store;
pub use comment_store::{CommentStore, CommentWrite};
mod sqlite;
mod title_search;

use crate::domain::TaskKey;
use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::{ApiKey, ConsoleSession};
use crate::domain::{
    Case, CaseChange, CaseId, HistoryRecord, ItemError, Job, NewCase, NewTask, Task, TaskChange,
    Timestamp, Workflow,
};

pub use crate::domain::feed::{Change, FeedQuery, FeedRead, Render};
pub use crate::domain::job_records::*;
pub use crate::domain::query::*;
pub use crate::error::{Error, Result};
pub use postgres::PgStore;
pub use signal::Signal;
pub use sqlite::SqliteStore;

/// A store: every part below, as both backends implement it. Each part is its own
/// trait, implemented by each backend where its statements live (no forwarding layer).
pub trait Store:
    CaseStore
    + CommentStore
    + JobStore
    + JobAdminStore
    + CallbackStore
    + KeyStore
    + SessionStore
    + StatsStore
    + NodeStore
    + FeedStore
    + WebhookStore
{
}

/// Cases, tasks, history, settings and the commit counter.
#[async_trait]
pub trait CaseStore: Send + Sync + 'static {
    /// Schema version applied (for `/readyz`).
    async fn schema_version(&self) -> Result<u32>;

    /// Creates a case, choosing an id when none is given. `Conflict` if the id is taken.
    async fn create_case(&self, new: NewCase, actor: Actor) -> Result<(Case, CommitSeq)>;

    async fn get_case(&self, id: &CaseId) -> Result<Option<Case>>;

    /// A case and a store position the read is at least as new as (the position is read
    /// first, so it never overstates the read's freshness).
    async fn get_case_at(&self, id: &CaseId) -> Result<(Option<Case>, CommitSeq)>;

    /// Many cases by id, read from the store, and the position they are at least as new
    /// as. Missing ids are left out.
    async fn get_cases(&self, ids: Vec<CaseId>) -> Result<(Vec<Case>, CommitSeq)>;

    /// The latest commit.
    async fn current_commit(&self) -> Result<CommitSeq>;

    /// Settings changed through the API (key -> JSON value).
    async fn load_settings(&self) -> Result<serde_json::Map<String, serde_json::Value>>;

    /// Stores changed settings (upserts the given keys), at the returned commit.
    async fn save_settings(
        &self,
        values: serde_json::Map<String, serde_json::Value>,
    ) -> Result<CommitSeq>;

    /// One page of cases in `filter.sort`'s order (keyset paging, no offsets).
    async fn list_cases(&self, filter: CaseFilter) -> Result<Paged<Case, CasePosition>>;

    /// Applies `change` to one case in one transaction, through
    /// [`crate::domain::apply_change`]. The inner `Err` is the domain's refusal.
    async fn update_case(
        &self,
        id: &CaseId,
        change: CaseChange,
        actor: Actor,
    ) -> Result<CaseUpdate>;

    /// The case's history, newest first. `None` if the case does not exist.
    async fn history(
        &self,
        id: &CaseId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Option<Paged<HistoryRecord>>>;

    /// Adds a task to a case. The inner `Err` if the case does not exist or is in a
    /// terminal status.
    async fn create_task(
        &self,
        case: &CaseId,
        task: NewTask,
        actor: Actor,
    ) -> Result<std::result::Result<(Task, CommitSeq), ItemError>>;

    /// The case's tasks, oldest first. `None` if the case does not exist.
    async fn list_tasks(
        &self,
        case: &CaseId,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Option<Paged<Task>>>;

    /// Changes a task. `NotFound` if the task does not exist; the inner `Err` if the case
    /// does not exist or the change would reopen a task of a case in a terminal status.
    async fn update_task(
        &self,
        key: &TaskKey,
        change: TaskChange,
        actor: Actor,
    ) -> Result<TaskUpdate>;

    /// Writes many ready-made cases (and their tasks) in one transaction. `Conflict` if
    /// any id is taken; then nothing is written.
    async fn import_cases(&self, cases: Vec<ImportCase>) -> Result<CommitSeq>;

    /// The highest `n` of any `CASE-n` id handed out or imported so far.
    async fn case_counter(&self) -> Result<u64>;

    /// Number of cases.
    async fn count_cases(&self) -> Result<u64>;

    /// Deletes a case with its tasks and history, and records `case.deleted`.
    /// `VersionConflict` when `expected_version` is given and differs.
    async fn delete_case(
        &self,
        id: &CaseId,
        expected_version: Option<u64>,
        actor: Actor,
    ) -> Result<std::result::Result<(Case, CommitSeq), ItemError>>;
}

/// Submitting jobs and running them chunk by chunk.
#[async_trait]
pub trait JobStore: Send + Sync + 'static {
    /// Stores a job and all its items in one transaction, unless the idempotency key
    /// replays or conflicts, or the queue is full (then nothing is stored). The commit is
    /// the new job's, or (nothing stored) the position the answer was read at.
    async fn submit_job(&self, job: NewJob, limits: SubmitLimits)
    -> Result<(Submitted, CommitSeq)>;

    async fn get_job(&self, id: &str) -> Result<Option<Job>>;

    /// Jobs, newest first.
    async fn list_jobs(&self, page: JobsPage) -> Result<Paged<Job>>;

    /// Processed items in request order (and, for a cancelled job, the unapplied ones
    /// as `cancelled`). `None` if the job does not exist.
    async fn job_results(&self, id: &str, page: ResultsPage) -> Result<Option<Paged<ItemRecord>>>;

    /// Unfinished jobs a worker may take, least recently worked first.
    async fn runnable_jobs(&self, owner: &str, now: Timestamp, limit: u32) -> Result<Vec<String>>;

    /// Claims the job (lease) and applies its next chunk in one transaction: the case
    /// changes, their history and task cascades, each item's outcome and the job's
    /// counters commit together, so a crash neither skips nor repeats an item.
    async fn run_chunk(&self, job_id: &str, claim: Claim) -> Result<ChunkResult>;

    /// Marks a drained job `completed` (and queues its callback). `None` if the job is
    /// not drained or already finished.
    async fn finish_job(&self, job_id: &str, now: Timestamp) -> Result<Option<Job>>;

    /// The server is stopping: from now on a job's step ends with its chunk in progress
    /// (on SQLite a step otherwise goes on to the job's next chunks while no write waits).
    fn winding_down(&self) {}
}

/// Cancelling, retrying, forgetting and purging jobs; leases. A change answers with its
/// commit (`JobChange::Done`) or, when nothing changed, the position it was read at.
#[async_trait]
pub trait JobAdminStore: Send + Sync + 'static {
    /// Cancels a queued job at once; asks a running one to stop at its next chunk.
    async fn cancel_job(&self, id: &str, now: Timestamp) -> Result<(JobChange, CommitSeq)>;

    /// A new job with the failed items of a finished one.
    async fn retry_failed(&self, id: &str, new: JobOrigin) -> Result<(JobChange, CommitSeq)>;

    /// A new job that undoes what a finished job changed (see
    /// [`crate::domain::revert`]): `WrongState` while the job runs, `NothingToDo` for a
    /// dry run.
    async fn revert_job(&self, id: &str, new: JobOrigin) -> Result<(JobChange, CommitSeq)>;

    /// Forgets a finished job, its items and its callbacks.
    async fn delete_job(&self, id: &str) -> Result<(JobChange, CommitSeq)>;

    /// Deletes finished jobs that ended before `before`, at most `limit` items per call
    /// (so a purge never holds the writer long). Returns the rows removed; 0 when
    /// nothing is left to do.
    async fn purge_jobs(&self, before: Timestamp, limit: u32) -> Result<u64>;

    /// Releases every lease (single-node start-up: no other process holds one).
    async fn release_leases(&self, owner_prefix: Option<&str>) -> Result<()>;
}

/// The completion callbacks of jobs and their delivery attempts.
#[async_trait]
pub trait CallbackStore: Send + Sync + 'static {
    async fn due_deliveries(&self, now: Timestamp, limit: u32) -> Result<Vec<Delivery>>;

    /// Records an attempt. `next_attempt` `None` ends the delivery: `delivered` when the
    /// attempt succeeded, else `failed`.
    async fn record_attempt(
        &self,
        delivery_id: &str,
        attempt: Attempt,
        next_attempt: Option<Timestamp>,
    ) -> Result<()>;

    async fn deliveries(&self, job_id: &str) -> Result<Option<Vec<DeliveryView>>>;

    /// Schedules a job's delivery to be sent again now. `NotFound` if it has none.
    async fn redeliver(&self, job_id: &str, now: Timestamp) -> Result<DeliveryView>;
}

/// API keys (shared by every node of a cluster).
#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// Stores a new key. `Conflict` if its id is taken.
    async fn create_key(&self, key: ApiKey) -> Result<CommitSeq>;

    /// Every key, revoked ones too, oldest first.
    async fn list_keys(&self) -> Result<Vec<ApiKey>>;

    /// Revokes a key and, in the same transaction, ends its console sessions; revoking
    /// it again keeps the first time. `NotFound` if there is no such key.
    async fn revoke_key(&self, id: &str, now: Timestamp) -> Result<(ApiKey, CommitSeq)>;
}

/// Console sessions (shared by every node of a cluster).
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Stores a session issued at sign-in.
    async fn create_session(&self, session: ConsoleSession) -> Result<()>;

    /// The session whose token hashes to `token_hash`, expired or not; `None` once it
    /// ended (signed out, its key revoked, or pruned).
    async fn session(&self, token_hash: [u8; 32]) -> Result<Option<ConsoleSession>>;

    /// Ends a session (sign-out). Ending one that is gone already is no error.
    async fn end_session(&self, token_hash: [u8; 32]) -> Result<()>;

    /// Deletes the sessions expired at `now`; returns how many.
    async fn purge_sessions(&self, now: Timestamp) -> Result<u64>;
}

/// What `/metrics` reads of the store.
#[async_trait]
pub trait StatsStore: Send + Sync + 'static {
    /// Jobs by state, and the unprocessed items of queued and running jobs (for
    /// `/metrics`).
    async fn job_stats(&self) -> Result<JobStats>;

    /// The store's connections, now.
    fn pool_stats(&self) -> PoolStats;
}

/// This node among others: a cluster store overrides the defaults; one node has no
/// one to tell.
#[async_trait]
pub trait NodeStore: CaseStore {
    /// Whether one node owns this store (SQLite: one process opens the file), so no
    /// other node can hold its leases or need its signals.
    fn single_node(&self) -> bool;

    /// Signals from every node, in commit order. `None`: a single-node store.
    async fn subscribe(&self) -> Result<Option<tokio::sync::mpsc::Receiver<Signal>>> {
        Ok(None)
    }

    /// Sends a signal that needs no transaction of its own (wake-ups, settings).
    async fn publish(&self, _signal: Signal) -> Result<()> {
        Ok(())
    }

    /// A new commit that every node must sweep its cache up to (deferred mode).
    async fn sweep(&self) -> Result<CommitSeq> {
        self.current_commit().await
    }

    /// Records that `node` is alive and has applied invalidations up to `applied`, and
    /// sends [`Signal::Beat`] `beat` in the same transaction (the node's cache lease is
    /// renewed when it hears that beat). The time recorded is the store's clock.
    async fn heartbeat(&self, _node: &str, _applied: i64, _beat: u64) -> Result<()> {
        Ok(())
    }

    /// Live nodes (a heartbeat in the last `ttl_ms` by the store's clock), other than
    /// `except`, that have not yet applied invalidations up to `commit`.
    async fn nodes_behind(&self, _commit: i64, _ttl_ms: i64, _except: &str) -> Result<u64> {
        Ok(0)
    }

    /// Whether the store can accept writes now (for `/readyz`): `Err(Unavailable)` while
    /// it cannot (disk full, read-only, unreachable).
    async fn writable(&self) -> Result<()> {
        self.schema_version().await.map(|_| ())
    }
}

/// Turns `limit + 1` fetched rows into a page and the position to continue after.
pub fn page_of<T>(rows: Vec<(i64, T)>, limit: u32) -> Paged<T> {
    page_by(rows, limit, |(k, _)| *k)
}

/// Turns `limit + 1` fetched `(key, item)` rows into a page whose next position is
/// `position` of the page's last row, when more rows follow.
pub fn page_by<K, T, P>(
    mut rows: Vec<(K, T)>,
    limit: u32,
    position: impl Fn(&(K, T)) -> P,
) -> Paged<T, P> {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = if more {
        rows.last().map(position)
    } else {
        None
    };
    Paged {
        items: rows.into_iter().map(|(_, t)| t).collect(),
        next,
    }
}

/// Opens the store named by `url` (`sqlite://path`, `sqlite:///abs/path`,
/// `postgres://…`) with the settings of `config` that concern it.
pub async fn open(
    url: &str,
    workflow: Arc<Workflow>,
    config: &crate::config::Config,
) -> anyhow::Result<Arc<dyn Store>> {
    // The feed's records are rendered as the API shows them.
    let render: Render = Arc::new(crate::wire::render_change);
    if url.starts_with("sqlite:") {
        let store = SqliteStore::open(url, workflow, render, &config.database.sqlite).await?;
        Ok(Arc::new(store))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        // A transaction left idle (its node hung mid-chunk) may hold a job's row lock
        // no longer than the job's lease: PostgreSQL ends it, the locks go, and another
        // node takes the job over once the lease has run out.
        let idle = std::time::Duration::from_secs(config.jobs.lease_seconds.max(1));
        Ok(Arc::new(
            PgStore::open(url, workflow, render, 16, idle).await?,
        ))
    } else {
        anyhow::bail!(
            "unsupported database URL '{}': expected sqlite://PATH or postgres://…",
            crate::config::redact_url(url)
        )
    }
}
