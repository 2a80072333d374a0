//! Decisions both stores make inside their transactions, written once: what cancelling a
//! job does, which items a retry takes, which jobs may be forgotten, what a reused
//! idempotency key means, and the task rules (no task opened on a closed case; a task
//! opened or closed moves its case's open-task count). A store reads the rows, asks here,
//! and persists the answer.

use super::{Case, ItemError, ItemOutcome, Job, JobState, TaskStatus, Timestamp, Workflow};

/// What cancelling a job does, by its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelStep {
    /// A queued job ends now, `cancelled`.
    EndNow,
    /// A running job is asked to stop: its worker ends it between chunks.
    AskWorkerToStop,
    /// An ended job cannot be cancelled.
    Refuse,
}

pub fn cancel_step(state: JobState) -> CancelStep {
    match state {
        JobState::Queued => CancelStep::EndNow,
        JobState::Running => CancelStep::AskWorkerToStop,
        JobState::Completed | JobState::Failed | JobState::Cancelled => CancelStep::Refuse,
    }
}

/// Which items of an ended job a retry takes again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryItems {
    /// The items that failed.
    Failed,
    /// Every item: a failed atomic job applied nothing, so it is retried whole (and
    /// atomically again).
    All,
}

/// The items a retry of `job` takes; `None` while the job has not ended.
pub fn retry_items(job: &Job) -> Option<RetryItems> {
    if !job.state.is_finished() {
        return None;
    }
    Some(if job.atomic && job.state == JobState::Failed {
        RetryItems::All
    } else {
        RetryItems::Failed
    })
}

/// Whether a job may be forgotten (deleted, or purged past its retention): only once it
/// has ended.
pub fn may_forget(job: &Job) -> bool {
    job.state.is_finished()
}

/// The items a listing of a job's results shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultsShown {
    /// Every item: those of a cancelled job not reached read as cancelled.
    All,
    /// The items processed so far.
    Processed,
    /// The items with this outcome.
    Outcome(ItemOutcome),
    /// The cancelled items of a cancelled job, with those it never reached.
    CancelledOrUnreached,
}

/// What a listing of `job`'s results asking for `outcome` (`None`: any) shows: the items
/// a cancelled job never reached count as cancelled; other jobs show processed items.
pub fn results_shown(job: &Job, outcome: Option<ItemOutcome>) -> ResultsShown {
    let unreached_are_cancelled = job.state == JobState::Cancelled;
    match (outcome, unreached_are_cancelled) {
        (None, true) => ResultsShown::All,
        (None, false) => ResultsShown::Processed,
        (Some(ItemOutcome::Cancelled), true) => ResultsShown::CancelledOrUnreached,
        (Some(o), _) => ResultsShown::Outcome(o),
    }
}

/// What a submission with an idempotency key meets in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    /// No live job holds the key: store a new job (freeing the key of an expired one).
    New,
    /// The same request again: answer with the job it made.
    Replay,
    /// The key was used with another body: refuse.
    Reused,
}

/// Whether a job by filter that matched `count` cases is refused, with `queued` items
/// of other jobs waiting: over its `max` (counted up to `max + 1`), another number
/// than expected, or more queued work than `limits` allow.
pub fn refuse_matches(
    by: &super::ByFilter,
    count: u64,
    queued: u64,
    limits: super::SubmitLimits,
) -> Option<super::Submitted> {
    use super::Submitted;
    if count > u64::from(by.max) {
        Some(Submitted::TooManyMatches { max: by.max })
    } else if by.expected.is_some_and(|e| e != count) {
        Some(Submitted::CountMismatch { count })
    } else if queued + count > limits.max_queued_items {
        Some(Submitted::QueueFull { queued })
    } else {
        None
    }
}

/// Whether case `this` may take `external_id`, which the store found on case `holder`
/// (`None`: no case has it).
pub fn external_id_free(
    external_id: &str,
    holder: Option<&str>,
    this: &str,
) -> Result<(), ItemError> {
    match holder {
        Some(h) if h != this => Err(ItemError::ExternalIdTaken {
            external_id: external_id.to_owned(),
            case_id: Some(h.to_owned()),
        }),
        _ => Ok(()),
    }
}

/// The use of an idempotency key that a job submitted at `created_at` with a request of
/// `stored_hash` holds, when a request of `hash` comes; keys older than `since` are
/// forgotten.
pub fn key_use(held: Option<(&str, Timestamp)>, hash: &str, since: Timestamp) -> KeyUse {
    match held {
        Some((stored_hash, created_at)) if created_at >= since => {
            if stored_hash == hash {
                KeyUse::Replay
            } else {
                KeyUse::Reused
            }
        }
        _ => KeyUse::New,
    }
}

/// A task may be opened on (or reopened on) `case` only while the case is not in a
/// terminal status.
pub fn may_open_task(case: &Case, wf: &Workflow) -> Result<(), ItemError> {
    if wf.is_terminal(&case.status) {
        Err(ItemError::case_closed(case))
    } else {
        Ok(())
    }
}

/// A case takes at most [`super::MAX_COMMENTS_PER_CASE`] comments.
pub fn may_comment(case: &Case) -> Result<(), ItemError> {
    if case.comment_count >= super::MAX_COMMENTS_PER_CASE {
        Err(ItemError::Validation(vec![super::FieldError::new(
            "caseId",
            &format!(
                "case {} has {} comments, the most a case may have",
                case.id,
                super::MAX_COMMENTS_PER_CASE
            ),
        )]))
    } else {
        Ok(())
    }
}

/// A write that names the version it expects (`If-Match`) applies only to that version.
pub fn expect_version(case: &Case, expected: Option<u64>) -> Result<(), ItemError> {
    match expected {
        Some(v) if v != case.version => Err(ItemError::VersionConflict {
            expected: v,
            actual: case.version,
        }),
        _ => Ok(()),
    }
}

/// How a task's status change moves its case's count of open tasks.
pub fn open_task_delta(was: TaskStatus, now: TaskStatus) -> i64 {
    match (was, now) {
        (TaskStatus::Open, TaskStatus::Done) => -1,
        (TaskStatus::Done, TaskStatus::Open) => 1,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(state: JobState, atomic: bool) -> Job {
        Job {
            id: "job-1".into(),
            kind: crate::domain::JobKind::Update,
            state,
            total: 2,
            processed: 2,
            succeeded: 1,
            failed: 1,
            atomic,
            dry_run: false,
            revert_of: None,
            callback_url: None,
            parent_id: None,
            created_at: Timestamp(0),
            started_at: None,
            finished_at: None,
            last_commit: 0,
            queue_position: None,
        }
    }

    #[test]
    fn cancel_ends_a_queued_job_asks_a_running_one_and_refuses_an_ended_one() {
        assert_eq!(cancel_step(JobState::Queued), CancelStep::EndNow);
        assert_eq!(cancel_step(JobState::Running), CancelStep::AskWorkerToStop);
        for s in [JobState::Completed, JobState::Failed, JobState::Cancelled] {
            assert_eq!(cancel_step(s), CancelStep::Refuse);
        }
    }

    #[test]
    fn a_retry_takes_the_failed_items_or_a_failed_atomic_job_whole() {
        assert_eq!(retry_items(&job(JobState::Running, false)), None);
        assert_eq!(
            retry_items(&job(JobState::Completed, false)),
            Some(RetryItems::Failed)
        );
        assert_eq!(
            retry_items(&job(JobState::Failed, true)),
            Some(RetryItems::All)
        );
        assert_eq!(
            retry_items(&job(JobState::Cancelled, true)),
            Some(RetryItems::Failed)
        );
        assert!(!may_forget(&job(JobState::Queued, false)));
        assert!(may_forget(&job(JobState::Cancelled, false)));
    }

    #[test]
    fn a_key_replays_the_same_body_refuses_another_and_expires() {
        let since = Timestamp(100);
        assert_eq!(key_use(None, "h", since), KeyUse::New);
        assert_eq!(
            key_use(Some(("h", Timestamp(100))), "h", since),
            KeyUse::Replay
        );
        assert_eq!(
            key_use(Some(("g", Timestamp(150))), "h", since),
            KeyUse::Reused
        );
        assert_eq!(key_use(Some(("g", Timestamp(99))), "h", since), KeyUse::New);
    }

    #[test]
    fn a_cancelled_job_shows_its_unreached_items_as_cancelled() {
        let cancelled = job(JobState::Cancelled, false);
        let done = job(JobState::Completed, false);
        assert_eq!(results_shown(&cancelled, None), ResultsShown::All);
        assert_eq!(results_shown(&done, None), ResultsShown::Processed);
        assert_eq!(
            results_shown(&cancelled, Some(ItemOutcome::Cancelled)),
            ResultsShown::CancelledOrUnreached
        );
        assert_eq!(
            results_shown(&done, Some(ItemOutcome::Cancelled)),
            ResultsShown::Outcome(ItemOutcome::Cancelled)
        );
        assert_eq!(
            results_shown(&cancelled, Some(ItemOutcome::Failed)),
            ResultsShown::Outcome(ItemOutcome::Failed)
        );
    }

    #[test]
    fn opening_and_closing_a_task_moves_the_open_count() {
        assert_eq!(open_task_delta(TaskStatus::Open, TaskStatus::Done), -1);
        assert_eq!(open_task_delta(TaskStatus::Done, TaskStatus::Open), 1);
        assert_eq!(open_task_delta(TaskStatus::Open, TaskStatus::Open), 0);
    }
}
