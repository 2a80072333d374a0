//! Jobs: the states a bulk update moves through, and how its items fare.

use std::fmt;
use std::str::FromStr;

use super::Timestamp;

/// A job's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    /// Stored with all its items; no chunk applied yet. Leaves when a worker claims it
    /// (-> `Running`) or it is cancelled (-> `Cancelled`).
    Queued,
    /// Chunks are being applied. Leaves when every item is processed and the job's
    /// invalidations are applied everywhere (-> `Completed`), when cancellation is seen
    /// between chunks (-> `Cancelled`), or when an atomic job has a failed item
    /// (-> `Failed`).
    Running,
    /// Every item processed and visible to every read. Final.
    Completed,
    /// The job could not run at all (an atomic job with a failed item). Final.
    Failed,
    /// Stopped on request; items not yet applied stay unapplied. Final.
    Cancelled,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "queued" => Ok(Self::Queued),
            "running" => Ok(Self::Running),
            "completed" => Ok(Self::Completed),
            "failed" => Ok(Self::Failed),
            "cancelled" => Ok(Self::Cancelled),
            _ => Err(format!(
                "unknown job state '{s}' (expected queued, running, completed, failed or cancelled)"
            )),
        }
    }
}

/// What a job's items do to their cases (its `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum JobKind {
    /// Each item changes a case.
    #[default]
    Update,
    /// Each item deletes a case.
    Delete,
    /// Each item creates a case, or updates the one with its `externalId`.
    Create,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Update => "bulk-update",
            Self::Delete => "bulk-delete",
            Self::Create => "bulk-create",
        }
    }

    /// A stored kind; one no version of docket wrote reads as an update.
    pub fn from_stored(s: &str) -> Self {
        match s {
            "bulk-delete" => Self::Delete,
            "bulk-create" => Self::Create,
            _ => Self::Update,
        }
    }
}

/// How one item of a job fared. An item without an outcome is pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemOutcome {
    /// Applied (or already in the requested state); written in the same transaction as
    /// the case change. Final.
    Succeeded,
    /// Refused by the domain rules; the case is unchanged. Final.
    Failed,
    /// Never applied: the job was cancelled first, or its atomic sibling failed. Final.
    Cancelled,
}

impl ItemOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for ItemOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ItemOutcome {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "succeeded" => Ok(Self::Succeeded),
            "failed" => Ok(Self::Failed),
            "cancelled" => Ok(Self::Cancelled),
            _ => Err(format!(
                "unknown outcome '{s}' (expected succeeded, failed or cancelled)"
            )),
        }
    }
}

/// A job as the store keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: String,
    pub kind: JobKind,
    pub state: JobState,
    pub total: u64,
    pub processed: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub atomic: bool,
    /// Changes no case: its results are what each item would have done.
    pub dry_run: bool,
    /// The job this one reverts.
    pub revert_of: Option<String>,
    pub callback_url: Option<String>,
    pub parent_id: Option<String>,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    /// Commit of the job's last chunk (its consistency token once finished).
    pub last_commit: i64,
    /// While queued: 1 for the next job to start.
    pub queue_position: Option<u64>,
}

impl Job {
    /// Items never applied: everything unprocessed once the job is cancelled, or every
    /// item of a failed atomic job that did not fail itself.
    pub fn cancelled(&self) -> u64 {
        match self.state {
            JobState::Cancelled => self.total - self.succeeded - self.failed,
            JobState::Failed => self.total - self.succeeded - self.failed,
            _ => 0,
        }
    }

    /// `succeeded` (all items), `partial` (some failed or were not applied), `none`.
    pub fn outcome(&self) -> Option<&'static str> {
        if !self.state.is_finished() {
            return None;
        }
        Some(if self.succeeded == self.total {
            "succeeded"
        } else if self.succeeded == 0 {
            "none"
        } else {
            "partial"
        })
    }
}

/// A fresh job id: `job-` and 20 random hex digits.
pub fn new_job_id() -> String {
    format!("job-{}", random_hex(10))
}

/// `n` random bytes from the OS, as hex.
pub fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    if getrandom::fill(&mut buf).is_err() {
        // No OS randomness: fall back to time and a counter, still unique per process.
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let c = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let t = u64::try_from(Timestamp::now().0).unwrap_or(0);
        for (i, b) in buf.iter_mut().enumerate() {
            *b = ((t ^ c.rotate_left(17)) >> ((i % 8) * 8)) as u8 ^ (i as u8);
        }
    }
    super::hex(&buf)
}

/// Why jobs are not progressing on this node: shown in unfinished jobs' status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stall {
    /// `service_unavailable` (the store cannot be reached or cannot write) or `internal`.
    pub code: &'static str,
    pub detail: String,
    pub since: super::Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_text() {
        for s in [
            JobState::Queued,
            JobState::Running,
            JobState::Completed,
            JobState::Failed,
            JobState::Cancelled,
        ] {
            assert_eq!(s.as_str().parse::<JobState>().unwrap(), s);
        }
        assert!("done".parse::<JobState>().is_err());
    }

    #[test]
    fn job_ids_are_unique_and_prefixed() {
        let a = new_job_id();
        assert!(a.starts_with("job-") && a.len() == 24);
        assert_ne!(a, new_job_id());
    }
}
