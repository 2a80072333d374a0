//! SQLite: what a chunk does with its items, one by one, inside the chunk's transaction,
//! and how long a worker keeps the writer: while no other write waits, a job's chunks
//! follow one another in one transaction (see [`Group`]).

use std::time::{Duration, Instant};

use rusqlite::Transaction;

use super::cases::{delete_case_rows, load_case, write_applied};
use super::comments::insert_applied_comment;
use super::create_items::create_case_item;
use super::rows::{Logged, Shows};
use crate::domain::chunk::{ClaimedJob, Outcome};
use crate::domain::feed::Change;
use crate::domain::{CaseId, ChangeContext, ItemError, JobKind, Workflow, apply_change};
use crate::store::thin::Thin;
use crate::store::{CommitSeq, Result};

/// What a transaction's chunks did so far: each item's result, the cases changed, the
/// changes to record, and what a create job made.
#[derive(Default)]
pub(super) struct Applied {
    pub results: Vec<(i64, std::result::Result<u64, ItemError>)>,
    pub changed: Vec<String>,
    pub changes: Vec<Logged>,
    pub made: Vec<(i64, String, crate::domain::create::CreateAction)>,
    numbers: u64,
}

impl Applied {
    /// Applies `items` (`(idx, case_id, item)`, in index order) of `job`.
    pub fn apply(
        &mut self,
        tx: &Transaction<'_>,
        wf: &Workflow,
        job: &ClaimedJob,
        items: &[(i64, String, String)],
        (ctx, commit): (&ChangeContext<'_>, CommitSeq),
    ) -> Result<()> {
        for (idx, case_id, item) in items {
            let r = match job.kind {
                JobKind::Delete => delete_item(tx, job, case_id, ctx)?,
                JobKind::Update => apply_item(tx, wf, job, (case_id, item), ctx, commit)?,
                JobKind::Create => {
                    let r = create_case_item(tx, wf, job, item, (ctx, commit), &mut self.numbers)?;
                    let r = r.map(|m| {
                        if let Some(c) = m.logged {
                            self.changed.push(m.case_id.clone());
                            self.changes.push(c);
                        }
                        self.made.push((*idx, m.case_id, m.action));
                        m.version
                    });
                    self.results.push((*idx, r));
                    continue;
                }
            };
            let r = r.map(|(v, logged)| {
                if !logged.is_empty() {
                    self.changed.push(case_id.clone());
                    self.changes.extend(logged);
                }
                v
            });
            self.results.push((*idx, r));
        }
        Ok(())
    }
}

/// How far one transaction of a job's chunks may go. A chunk is `Jobs.ChunkSize`
/// items; after one, the worker goes on to the next in the same transaction only while
/// no other write is waiting for the writer, for at most `budget` since the first began
/// and [`Group::MAX_ITEMS`] items. A write that arrives waits for the chunk in progress,
/// as it would without grouping, and the job's commits (each rewriting the pages its
/// cases' `updated_at` index entries sit on, spread over the whole index) are fewer.
pub(super) struct Group<'a> {
    pub started: Instant,
    pub budget: Duration,
    pub waiting: &'a dyn Fn() -> bool,
}

impl Group<'_> {
    /// The most items one transaction of chunks applies.
    pub const MAX_ITEMS: usize = 50_000;

    /// Whether to go on to another chunk of `limit` items after `done` items.
    pub fn more(&self, done: usize, limit: usize) -> bool {
        done + limit <= Self::MAX_ITEMS.max(limit)
            && self.started.elapsed() < self.budget
            && !(self.waiting)()
    }
}

/// Applies one item in the chunk's transaction: `Ok((version, changes made))` or its
/// error. A dry run writes nothing: the version is the one the item would have left.
fn apply_item(
    tx: &Transaction<'_>,
    wf: &Workflow,
    job: &ClaimedJob,
    (case_id, item): (&str, &str),
    ctx: &ChangeContext<'_>,
    commit: CommitSeq,
) -> Result<std::result::Result<(u64, Vec<Logged>), ItemError>> {
    let write = !job.dry_run;
    let Ok(id) = CaseId::parse(case_id) else {
        return Ok(Err(ItemError::CaseNotFound(case_id.to_owned())));
    };
    let change = match job.change(item, wf) {
        Ok(c) => c,
        Err(e) => return Ok(Err(e)),
    };
    let Some((seq, case)) = load_case(tx, &id)? else {
        return Ok(Err(ItemError::CaseNotFound(case_id.to_owned())));
    };
    match apply_change(&case, &change, wf, ctx) {
        Ok(applied) => {
            if !applied.changed() || !write {
                return Ok(Ok((applied.case.version, Vec::new())));
            }
            // Its change keeps no copy of the case, but the history rows it wrote.
            let history = write_applied(tx, seq, &applied, (commit, true))?;
            let mut logged = Vec::new();
            if let Some(ids) = history {
                let change = Change::case_updated(&applied.case, &applied.history);
                logged.push((change, Shows::Thin(Thin::of(&applied.case, ids))));
            }
            // The item's comment: part of its change (the same version), after it.
            if let Some((_, c)) = insert_applied_comment(tx, seq, &applied, ctx)? {
                logged.push((c, Shows::Row(seq)));
            }
            Ok(Ok((applied.case.version, logged)))
        }
        Err(e) => Ok(Err(e)),
    }
}

/// Deletes one item's case inside the chunk's transaction (a dry run only looks it
/// up): `Ok((version, change))`, the version its deletion takes the case to.
fn delete_item(
    tx: &Transaction<'_>,
    job: &ClaimedJob,
    case_id: &str,
    ctx: &ChangeContext<'_>,
) -> Result<std::result::Result<(u64, Vec<Logged>), ItemError>> {
    let found = match CaseId::parse(case_id) {
        Ok(id) => load_case(tx, &id)?,
        Err(_) => None,
    };
    let Some((seq, case)) = found else {
        return Ok(Err(ItemError::CaseNotFound(case_id.to_owned())));
    };
    if job.dry_run {
        return Ok(Ok((case.version + 1, Vec::new())));
    }
    delete_case_rows(tx, seq)?;
    let change = Change::case_deleted_by_job(&case, ctx);
    Ok(Ok((case.version + 1, vec![(change, Shows::Nothing)])))
}

/// Records each item's outcome in its `job_items` row.
pub(super) fn write_outcomes(
    tx: &Transaction<'_>,
    job_seq: i64,
    outcomes: &[(i64, Outcome)],
) -> Result<()> {
    let mut stmt = tx.prepare_cached(
        "UPDATE job_items SET outcome = ?3, error_code = ?4, error_detail = ?5, version = ?6 \
         WHERE job_seq = ?1 AND idx = ?2",
    )?;
    for (idx, outcome) in outcomes {
        let c = outcome.columns();
        stmt.execute(rusqlite::params![
            job_seq,
            idx,
            c.outcome,
            c.error_code,
            c.error_detail,
            c.version
        ])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(budget_ms: u64, waiting: &dyn Fn() -> bool) -> Group<'_> {
        Group {
            started: Instant::now(),
            budget: Duration::from_millis(budget_ms),
            waiting,
        }
    }

    #[test]
    fn a_group_goes_on_only_within_its_budget_and_items_and_while_no_write_waits() {
        let idle = || false;
        let busy = || true;
        assert!(group(60_000, &idle).more(500, 500));
        assert!(group(60_000, &idle).more(49_500, 500));
        assert!(
            !group(60_000, &idle).more(49_501, 500),
            "50,000 items at most"
        );
        assert!(
            !group(60_000, &busy).more(500, 500),
            "a waiting write stops it"
        );
        assert!(!group(0, &idle).more(500, 500), "no budget: one chunk");
        // A chunk larger than the cap is still one chunk.
        assert!(!group(60_000, &idle).more(60_000, 60_000));
    }
}
