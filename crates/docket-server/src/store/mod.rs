//! Persistence: the [`Store`] trait and its backends.
//!
//! A store only persists: every rule about how a case may change lives in
//! [`crate::domain`], which the store calls inside its transaction. Each method is one
//! unit of work. Driver errors stop here, mapped to [`Error`].

mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::{
    Applied, Case, CaseChange, CaseId, HistoryRecord, ItemError, NewCase, NewTask, Status, Task,
    TaskChange, TaskId, Timestamp, Workflow,
};

pub use sqlite::SqliteStore;

/// A store failure. Domain refusals are not store failures: they travel as
/// [`ItemError`] inside an `Ok`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A point in the store's commit order; every write returns the one it committed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CommitSeq(pub i64);

impl CommitSeq {
    /// The opaque token clients see in `X-Consistency-Token`.
    pub fn token(self) -> String {
        format!("c{}", self.0)
    }

    pub fn parse_token(s: &str) -> Option<Self> {
        s.strip_prefix('c')?.parse().ok().map(Self)
    }
}

/// Filters and paging for listing cases.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub status: Option<Status>,
    pub assignee: Option<String>,
    pub tag: Option<String>,
    pub updated_since: Option<Timestamp>,
    /// Exclusive lower bound, from the previous page's cursor.
    pub after: Option<i64>,
    pub limit: u32,
}

/// A page of results and the position to continue after.
#[derive(Debug, Clone)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub next: Option<i64>,
}

/// Who writes and when.
#[derive(Debug, Clone)]
pub struct Actor {
    pub name: String,
    pub at: Timestamp,
}

/// A case with its tasks, for bulk imports (`docket seed`).
#[derive(Debug, Clone)]
pub struct ImportCase {
    pub case: Case,
    pub tasks: Vec<NewTask>,
}

/// The result of a synchronous single-case update.
#[derive(Debug, Clone)]
pub struct Updated {
    pub applied: Applied,
    pub commit: CommitSeq,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Schema version applied (for `/readyz`).
    async fn schema_version(&self) -> Result<u32>;

    /// Creates a case, choosing an id when none is given. `Conflict` if the id is taken.
    async fn create_case(&self, new: NewCase, actor: Actor) -> Result<(Case, CommitSeq)>;

    async fn get_case(&self, id: &CaseId) -> Result<Option<Case>>;

    async fn list_cases(&self, filter: CaseFilter) -> Result<Paged<Case>>;

    /// Applies `change` to one case in one transaction, through
    /// [`crate::domain::apply_change`]. The inner `Err` is the domain's refusal.
    async fn update_case(
        &self,
        id: &CaseId,
        change: CaseChange,
        actor: Actor,
    ) -> Result<std::result::Result<Updated, ItemError>>;

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
        case: &CaseId,
        task: &TaskId,
        change: TaskChange,
        actor: Actor,
    ) -> Result<std::result::Result<(Task, CommitSeq), ItemError>>;

    /// Writes many ready-made cases (and their tasks) in one transaction. `Conflict` if
    /// any id is taken; then nothing is written.
    async fn import_cases(&self, cases: Vec<ImportCase>) -> Result<CommitSeq>;

    /// The highest `n` of any `CASE-n` id handed out or imported so far.
    async fn case_counter(&self) -> Result<u64>;

    /// Number of cases.
    async fn count_cases(&self) -> Result<u64>;
}

/// Opens the store named by `url` (`sqlite://path`, `sqlite:///abs/path`).
pub async fn open(
    url: &str,
    workflow: Arc<Workflow>,
    sqlite: &crate::config::SqliteConfig,
) -> anyhow::Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        let store = SqliteStore::open(url, workflow, sqlite).await?;
        Ok(Arc::new(store))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        anyhow::bail!("PostgreSQL is not supported by this build yet; use a sqlite:// URL")
    } else {
        anyhow::bail!("unsupported database URL '{url}': expected sqlite://PATH")
    }
}
