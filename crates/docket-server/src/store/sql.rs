//! The pieces of SQL text both backends share: the dialect a query is written in and the
//! values bound to its placeholders ([`super::case_list`] and [`super::title_search`]
//! build their queries from them).

/// The SQL flavour a query is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    pub(super) fn placeholder(self, n: usize) -> String {
        match self {
            Self::Sqlite => format!("?{n}"),
            Self::Postgres => format!("${n}"),
        }
    }

    /// Case-insensitive LIKE: SQLite's `LIKE` already ignores ASCII case.
    pub(super) fn ilike(self) -> &'static str {
        match self {
            Self::Sqlite => "LIKE",
            Self::Postgres => "ILIKE",
        }
    }
}

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param {
    Int(i64),
    Text(String),
}

/// A query and its parameters, `params[i]` bound to placeholder `i + 1`.
#[derive(Debug, Clone)]
pub struct ListSql {
    pub sql: String,
    pub params: Vec<Param>,
}

/// The condition on `job_items` that shows `shown` (the same text on both backends).
pub fn results_where(shown: crate::domain::rules::ResultsShown) -> &'static str {
    use crate::domain::ItemOutcome;
    use crate::domain::rules::ResultsShown;
    match shown {
        ResultsShown::All => "TRUE",
        ResultsShown::Processed => "outcome IS NOT NULL",
        ResultsShown::CancelledOrUnreached => "(outcome IS NULL OR outcome = 'cancelled')",
        ResultsShown::Outcome(ItemOutcome::Cancelled) => "outcome = 'cancelled'",
        ResultsShown::Outcome(ItemOutcome::Failed) => "outcome = 'failed'",
        ResultsShown::Outcome(ItemOutcome::Succeeded) => "outcome = 'succeeded'",
    }
}

/// The condition on `job_items` that picks the items a retry runs again.
pub fn retry_where(which: crate::domain::rules::RetryItems) -> &'static str {
    use crate::domain::rules::RetryItems;
    match which {
        RetryItems::All => "outcome IS NOT NULL",
        RetryItems::Failed => "outcome = 'failed'",
    }
}

/// The statement that copies the items of job `old` a retry takes (`which`) into job
/// `new`, renumbered from 0 in their order, inside the store (a million failed items
/// never pass through memory): `new` binds to placeholder 1, `old` to 2.
pub fn retry_copy_sql(which: crate::domain::rules::RetryItems, dialect: Dialect) -> String {
    let (new, old) = (dialect.placeholder(1), dialect.placeholder(2));
    format!(
        "INSERT INTO job_items (job_seq, idx, case_id, item) \
         SELECT {new}, row_number() OVER (ORDER BY idx) - 1, case_id, item FROM job_items \
         WHERE job_seq = {old} AND {} ORDER BY idx",
        retry_where(which)
    )
}

/// The columns of a job row, in the order [`JobRow`] takes them.
pub const JOB_COLUMNS: &str = "seq, job_id, state, total, processed, succeeded, failed, atomic, \
     callback_url, parent_job_id, created_at, started_at, finished_at, last_commit_seq, dry_run, revert_of, kind";

/// A job row as both backends read it ([`JOB_COLUMNS`]); [`JobRow::decode`] turns it
/// into a [`crate::domain::Job`] the same way on both.
pub struct JobRow {
    pub seq: i64,
    pub job_id: String,
    pub state: String,
    pub counts: [i64; 4],
    pub atomic: bool,
    pub callback_url: Option<String>,
    pub parent_id: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub last_commit: i64,
    pub dry_run: bool,
    pub revert_of: Option<String>,
    pub kind: String,
}

impl JobRow {
    /// The job and its `seq`. A state the domain does not know is an error (a row no
    /// version of docket wrote), on both backends alike.
    pub fn decode(self) -> super::Result<(i64, crate::domain::Job)> {
        use crate::domain::{Job, JobState, Timestamp};
        let state: JobState = self.state.parse().map_err(|e| {
            super::Error::Other(anyhow::anyhow!("unreadable job state in the database: {e}"))
        })?;
        let [total, processed, succeeded, failed] =
            self.counts.map(|n| u64::try_from(n).unwrap_or(0));
        let job = Job {
            id: self.job_id,
            kind: crate::domain::JobKind::from_stored(&self.kind),
            state,
            total,
            processed,
            succeeded,
            failed,
            atomic: self.atomic,
            dry_run: self.dry_run,
            revert_of: self.revert_of,
            callback_url: self.callback_url,
            parent_id: self.parent_id,
            created_at: Timestamp(self.created_at),
            started_at: self.started_at.map(Timestamp),
            finished_at: self.finished_at.map(Timestamp),
            last_commit: self.last_commit,
            queue_position: None,
        };
        Ok((self.seq, job))
    }
}
