//! A job's chunk step, decided once for both stores: what a claimed job does next
//! (nothing left, cancel, apply its next items), what the applied items add up to (an
//! atomic job's failure, the counters, whether the job is drained), whether the chunk
//! may complete the job in its own transaction, and what each item's row records. The
//! stores claim, lock, apply and persist; they decide none of this.

use super::ItemError;
use super::job_records::FinishDrained;

/// The detail stored with an item of an atomic job left unapplied.
const NOT_APPLIED_DETAIL: &str = "not applied: another item of this atomic job failed";

/// A job's row as the claim statement returns it (both stores select these columns,
/// in this order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedJob {
    pub seq: i64,
    pub cancel_requested: bool,
    pub atomic: bool,
    pub next_index: i64,
    pub actor: String,
    pub total: i64,
    pub processed: i64,
    /// A dry run: items are applied in memory only; no case changes.
    pub dry_run: bool,
    /// What an item stored as `""` applies (a filter job's `set`).
    pub template: Option<String>,
    /// A revert: its items restore what a job changed, unbound by the workflow.
    pub revert: bool,
    pub kind: super::JobKind,
    /// A bulk create that updates the case holding an item's `externalId`.
    pub upsert: bool,
}

/// The claim statement's `RETURNING seq, cancel_requested, atomic, next_index, actor,
/// total, processed, dry_run, template, revert, kind, upsert` ([`CLAIM_RETURNING`]).
pub type ClaimRow = (
    i64,
    bool,
    bool,
    i64,
    String,
    i64,
    i64,
    bool,
    Option<String>,
    bool,
    String,
    bool,
);

/// The columns the claim statement returns, as [`ClaimRow`] takes them.
pub const CLAIM_RETURNING: &str = "seq, cancel_requested, atomic, next_index, actor, total, \
     processed, dry_run, template, revert_of IS NOT NULL, kind, upsert_by IS NOT NULL";

impl From<ClaimRow> for ClaimedJob {
    fn from(r: ClaimRow) -> Self {
        Self {
            seq: r.0,
            cancel_requested: r.1,
            atomic: r.2,
            next_index: r.3,
            actor: r.4,
            total: r.5,
            processed: r.6,
            dry_run: r.7,
            template: r.8,
            revert: r.9,
            kind: super::JobKind::from_stored(&r.10),
            upsert: r.11,
        }
    }
}

impl ClaimedJob {
    /// The item JSON a stored item stands for: itself, or the job's template when it
    /// was stored as `""`.
    pub fn item<'a>(&'a self, stored: &'a str) -> &'a str {
        match (&self.template, stored.is_empty()) {
            (Some(t), true) => t,
            _ => stored,
        }
    }

    /// The change a stored item asks for, as this job applies it: a revert's item is a
    /// `PATCH` body (it may restore any field a job changed), unbound by the workflow.
    pub fn change(
        &self,
        stored: &str,
        wf: &super::Workflow,
    ) -> Result<super::CaseChange, ItemError> {
        if !self.revert {
            return super::item_change(self.item(stored), wf);
        }
        let invalid = |m: String| ItemError::Validation(vec![super::FieldError::new("item", &m)]);
        let patch: docket_api::CasePatch =
            serde_json::from_str(stored).map_err(|e| invalid(e.to_string()))?;
        let mut change = super::CaseChange::parse(patch, wf).map_err(ItemError::Validation)?;
        change.restore = true;
        Ok(change)
    }
}

/// What a claimed job does in this step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkStart {
    /// Every item is processed: nothing to apply; the job waits to be finished.
    Drained,
    /// A cancel was asked for: end the job `cancelled`, applying nothing more.
    Cancel,
    /// Apply up to `limit` items from `next_index` (an atomic job: all of them, in one
    /// transaction, so that it applies all or nothing).
    Apply { limit: i64 },
}

/// One item's result as its row records it.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Succeeded {
        version: u64,
    },
    Failed(ItemError),
    /// An item of an atomic job whose other item failed.
    NotApplied,
}

/// An [`Outcome`] as the `job_items` columns hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeColumns {
    pub outcome: &'static str,
    pub error_code: Option<String>,
    pub error_detail: Option<String>,
    pub version: Option<i64>,
}

impl Outcome {
    pub fn columns(&self) -> OutcomeColumns {
        match self {
            Self::Succeeded { version } => OutcomeColumns {
                outcome: "succeeded",
                error_code: None,
                error_detail: None,
                version: Some(i64::try_from(*version).unwrap_or(i64::MAX)),
            },
            Self::Failed(e) => OutcomeColumns {
                outcome: "failed",
                error_code: Some(e.code().to_owned()),
                error_detail: Some(e.to_string()),
                version: None,
            },
            Self::NotApplied => OutcomeColumns {
                outcome: "cancelled",
                error_code: Some(super::NOT_APPLIED.to_owned()),
                error_detail: Some(NOT_APPLIED_DETAIL.to_owned()),
                version: None,
            },
        }
    }
}

/// What the job's counters gain from a committed chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    pub processed: i64,
    pub succeeded: i64,
    pub failed: i64,
    /// The index the next chunk starts from.
    pub next_index: i64,
}

/// What to do with a chunk whose items have been applied (in its transaction).
#[derive(Debug, Clone, PartialEq)]
pub enum ChunkPlan {
    /// An atomic job with a failed item: roll the chunk back, then (in a new
    /// transaction) record these outcomes, set the counters to `processed = total`,
    /// `succeeded = 0`, `failed`, and end the job `failed`.
    FailAtomic {
        outcomes: Vec<(i64, Outcome)>,
        failed: i64,
    },
    /// Commit the chunk: record these outcomes and add `counters`. `drained`: this
    /// chunk processed the job's last items.
    Commit {
        outcomes: Vec<(i64, Outcome)>,
        counters: Counters,
        drained: bool,
    },
}

/// Whether a drained chunk completes its job in its own transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    No,
    Yes,
    /// Yes if no node but `node` has a heartbeat in the last `ttl_ms` (the store checks,
    /// in the transaction; a store of one node answers yes).
    IfNoOtherNode {
        node: String,
        ttl_ms: i64,
    },
}

impl ClaimedJob {
    /// What this step does with the job.
    pub fn start(&self, chunk_size: u32) -> ChunkStart {
        if self.processed >= self.total {
            ChunkStart::Drained
        } else if self.cancel_requested {
            ChunkStart::Cancel
        } else if self.atomic {
            ChunkStart::Apply { limit: self.total }
        } else {
            ChunkStart::Apply {
                limit: i64::from(chunk_size.max(1)),
            }
        }
    }

    /// The plan for a chunk whose items (by index, in order) gave `results`.
    pub fn plan(&self, results: Vec<(i64, Result<u64, ItemError>)>) -> ChunkPlan {
        let failed = results.iter().filter(|(_, r)| r.is_err()).count() as i64;
        let n = results.len() as i64;
        let next_index = results.last().map_or(self.next_index, |(i, _)| i + 1);
        if self.atomic && failed > 0 {
            let outcomes = results
                .into_iter()
                .map(|(i, r)| match r {
                    Err(e) => (i, Outcome::Failed(e)),
                    Ok(_) => (i, Outcome::NotApplied),
                })
                .collect();
            return ChunkPlan::FailAtomic { outcomes, failed };
        }
        let outcomes = results
            .into_iter()
            .map(|(i, r)| match r {
                Ok(version) => (i, Outcome::Succeeded { version }),
                Err(e) => (i, Outcome::Failed(e)),
            })
            .collect();
        ChunkPlan::Commit {
            outcomes,
            counters: Counters {
                processed: n,
                succeeded: n - failed,
                failed,
                next_index,
            },
            drained: self.processed + n >= self.total,
        }
    }
}

impl FinishDrained {
    /// Whether a chunk that did (or did not) drain its job completes it in its own
    /// transaction.
    pub fn finish(&self, drained: bool) -> Finish {
        match self {
            _ if !drained => Finish::No,
            Self::Never => Finish::No,
            Self::Always => Finish::Yes,
            Self::IfAlone { node, ttl_ms } => Finish::IfNoOtherNode {
                node: node.clone(),
                ttl_ms: *ttl_ms,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(atomic: bool, total: i64, processed: i64) -> ClaimedJob {
        ClaimedJob {
            seq: 1,
            cancel_requested: false,
            atomic,
            next_index: processed,
            actor: "t".into(),
            total,
            processed,
            dry_run: false,
            template: None,
            revert: false,
            kind: crate::domain::JobKind::Update,
            upsert: false,
        }
    }

    #[test]
    fn an_item_stored_empty_applies_the_jobs_template() {
        let mut j = job(false, 1, 0);
        assert_eq!(j.item(r#"{"caseId":"A"}"#), r#"{"caseId":"A"}"#);
        j.template = Some(r#"{"caseId":"","status":"Open"}"#.into());
        assert_eq!(j.item(""), r#"{"caseId":"","status":"Open"}"#);
        assert_eq!(j.item(r#"{"caseId":"A"}"#), r#"{"caseId":"A"}"#);
    }

    fn missing(id: &str) -> ItemError {
        ItemError::CaseNotFound(id.into())
    }

    #[test]
    fn a_claimed_job_is_drained_cancelled_or_applied_in_chunks() {
        assert_eq!(job(false, 5, 5).start(2), ChunkStart::Drained);
        let cancelled = ClaimedJob {
            cancel_requested: true,
            ..job(false, 5, 1)
        };
        assert_eq!(cancelled.start(2), ChunkStart::Cancel);
        // A drained job is not cancelled: its items are all processed already.
        let late = ClaimedJob {
            cancel_requested: true,
            ..job(false, 5, 5)
        };
        assert_eq!(late.start(2), ChunkStart::Drained);
        assert_eq!(job(false, 5, 1).start(2), ChunkStart::Apply { limit: 2 });
        assert_eq!(job(false, 5, 1).start(0), ChunkStart::Apply { limit: 1 });
        assert_eq!(job(true, 5, 0).start(2), ChunkStart::Apply { limit: 5 });
    }

    #[test]
    fn a_chunk_adds_its_counts_and_says_when_the_job_is_drained() {
        let plan = job(false, 4, 1).plan(vec![(1, Ok(3)), (2, Err(missing("CASE-2")))]);
        let ChunkPlan::Commit {
            outcomes,
            counters,
            drained,
        } = plan
        else {
            panic!("{plan:?}")
        };
        assert_eq!(
            counters,
            Counters {
                processed: 2,
                succeeded: 1,
                failed: 1,
                next_index: 3
            }
        );
        assert!(!drained);
        assert_eq!(outcomes[0], (1, Outcome::Succeeded { version: 3 }));
        assert_eq!(
            outcomes[1].1.columns().error_code.as_deref(),
            Some("case_not_found")
        );
        let ChunkPlan::Commit { drained, .. } = job(false, 3, 1).plan(vec![(1, Ok(1)), (2, Ok(1))])
        else {
            panic!()
        };
        assert!(drained);
    }

    #[test]
    fn an_atomic_job_with_one_failed_item_applies_none() {
        let plan = job(true, 3, 0).plan(vec![(0, Ok(2)), (1, Err(missing("X"))), (2, Ok(2))]);
        let ChunkPlan::FailAtomic { outcomes, failed } = plan else {
            panic!("{plan:?}")
        };
        assert_eq!(failed, 1);
        assert_eq!(outcomes[0], (0, Outcome::NotApplied));
        assert_eq!(outcomes[2], (2, Outcome::NotApplied));
        let cols = outcomes[0].1.columns();
        assert_eq!(
            (cols.outcome, cols.error_code.as_deref()),
            ("cancelled", Some("not_applied"))
        );
        // Without a failure an atomic job commits like any other.
        assert!(matches!(
            job(true, 2, 0).plan(vec![(0, Ok(2)), (1, Ok(2))]),
            ChunkPlan::Commit { drained: true, .. }
        ));
    }

    #[test]
    fn only_a_drained_chunk_may_finish_its_job() {
        assert_eq!(FinishDrained::Always.finish(false), Finish::No);
        assert_eq!(FinishDrained::Always.finish(true), Finish::Yes);
        assert_eq!(FinishDrained::Never.finish(true), Finish::No);
        let alone = FinishDrained::IfAlone {
            node: "n".into(),
            ttl_ms: 5,
        };
        assert_eq!(
            alone.finish(true),
            Finish::IfNoOtherNode {
                node: "n".into(),
                ttl_ms: 5
            }
        );
    }
}
