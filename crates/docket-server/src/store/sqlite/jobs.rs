//! SQLite: durable jobs. Each chunk is one transaction that writes the case changes and
//! each item's outcome together, so a crash neither skips nor repeats an item.

use crate::domain::chunk::{
    CLAIM_RETURNING, ChunkPlan, ChunkStart, ClaimRow, ClaimedJob, Finish, Outcome,
};
use crate::domain::rules::{self, KeyUse};
use crate::store::JobStore;
use crate::store::sql::{JOB_COLUMNS, JobRow};
use crate::store::{JobsPage, ResultsPage};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, Transaction};

use super::SqliteStore;
use super::cases::{delete_case_rows, immediate, load_case, page, write_applied};
use super::comments::insert_applied_comment;
use super::create_items::create_case_item;
use super::job_rows::{end_job, ended, insert_job, insert_matches, job_row, load_job};
use super::rows::{Logged, counter, next_commit, record_changes};
use crate::domain::feed::Change;
use crate::domain::{
    CaseId, ChangeContext, ItemError, Job, JobKind, JobState, Timestamp, Workflow, apply_change,
};
use crate::store::{
    ChunkResult, Claim, CommitSeq, ItemRecord, NewJob, Paged, Result, SubmitLimits, Submitted,
};

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
            write_applied(tx, seq, &applied, commit)?;
            let mut logged = Vec::new();
            if !applied.history.is_empty() {
                let change = Change::case_updated(&applied.case, &applied.history);
                logged.push((change, Some(seq)));
            }
            // The item's comment: part of its change (the same version), after it.
            if let Some((_, c)) = insert_applied_comment(tx, seq, &applied, ctx)? {
                logged.push((c, Some(seq)));
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
    Ok(Ok((case.version + 1, vec![(change, None)])))
}

/// Records each item's outcome in its `job_items` row.
fn write_outcomes(tx: &Transaction<'_>, job_seq: i64, outcomes: &[(i64, Outcome)]) -> Result<()> {
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

#[async_trait]
impl JobStore for SqliteStore {
    async fn submit_job(
        &self,
        job: NewJob,
        limits: SubmitLimits,
    ) -> Result<(Submitted, CommitSeq)> {
        let render = self.render();
        self.write(move |conn, _| {
            let tx = immediate(conn)?;
            let unchanged = |tx: &Transaction<'_>, answer| Ok((answer, CommitSeq(counter(tx, "commit")?)));
            if let Some((key, hash)) = &job.idempotency {
                let found: Option<(i64, String, i64)> = tx
                    .prepare_cached("SELECT seq, request_hash, created_at FROM jobs WHERE idempotency_key = ?1")?
                    .query_row([key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .optional()?;
                let held = found.as_ref().map(|(_, h, at)| (h.as_str(), Timestamp(*at)));
                match rules::key_use(held, hash, limits.idempotency_since) {
                    KeyUse::Reused => return unchanged(&tx, Submitted::KeyReused),
                    KeyUse::Replay => {
                        let seq = found.as_ref().map_or(0, |f| f.0);
                        let job_id: String = tx.query_row("SELECT job_id FROM jobs WHERE seq = ?1", [seq], |r| r.get(0))?;
                        let (_, original) = load_job(&tx, &job_id)?.ok_or(crate::store::Error::NotFound)?;
                        return unchanged(&tx, Submitted::Replayed(original));
                    }
                    KeyUse::New => {
                        // A key past its time is freed for this job.
                        if let Some((seq, ..)) = found {
                            tx.execute("UPDATE jobs SET idempotency_key = NULL WHERE seq = ?1", [seq])?;
                        }
                    }
                }
            }
            let queued: i64 = tx.query_row(
                "SELECT COALESCE(SUM(total - processed), 0) FROM jobs WHERE state IN ('queued', 'running')",
                [],
                |r| r.get(0),
            )?;
            let queued = u64::try_from(queued).unwrap_or(0);
            if queued + job.items.len() > limits.max_queued_items {
                return unchanged(&tx, Submitted::QueueFull { queued });
            }
            let seq = insert_job(&tx, &job)?;
            if let Some(by) = &job.by_filter {
                let count = insert_matches(&tx, seq, by)?;
                // Each refusal drops the transaction: nothing of the job stays.
                if let Some(refused) = rules::refuse_matches(by, count, queued, limits) {
                    return unchanged(&tx, refused);
                }
                if count == 0 {
                    // Nothing matches: the job completes at once, in its own transaction.
                    end_job(&tx, seq, JobState::Completed, job.created_at)?;
                    let commit = if job.dry_run { None } else { Some(next_commit(&tx)?) };
                    return match ended(tx, &job.id, commit, Vec::new(), &render)? {
                        ChunkResult::Ended(done) => {
                            let at = CommitSeq(done.last_commit);
                            Ok((Submitted::Created(done), commit.unwrap_or(at)))
                        }
                        _ => Err(crate::store::Error::NotFound),
                    };
                }
            }
            let (_, created) = load_job(&tx, &job.id)?.ok_or(crate::store::Error::NotFound)?;
            let commit = next_commit(&tx)?;
            tx.commit()?;
            Ok((Submitted::Created(created), commit))
        })
        .await
    }

    async fn get_job(&self, id: &str) -> Result<Option<Job>> {
        let id = id.to_owned();
        self.read(move |conn, _| Ok(load_job(conn, &id)?.map(|(_, j)| j)))
            .await
    }

    async fn list_jobs(&self, q: JobsPage) -> Result<Paged<Job>> {
        self.read(move |conn, _| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {JOB_COLUMNS} FROM jobs WHERE seq < ?1 AND (?2 IS NULL OR state = ?2) ORDER BY seq DESC LIMIT ?3"
            ))?;
            let rows = stmt.query_map(
                rusqlite::params![q.before.unwrap_or(i64::MAX), q.state.map(JobState::as_str), i64::from(q.limit) + 1],
                job_row,
            )?;
            let items = rows
                .map(|r| r.map_err(crate::store::Error::from).and_then(JobRow::decode))
                .collect::<Result<Vec<_>>>()?;
            Ok(page(items, q.limit))
        })
        .await
    }

    async fn job_results(&self, id: &str, shown: ResultsPage) -> Result<Option<Paged<ItemRecord>>> {
        let id = id.to_owned();
        self.read(move |conn, _| {
            let Some((seq, job)) = load_job(conn, &id)? else {
                return Ok(None);
            };
            let filter =
                crate::store::sql::results_where(rules::results_shown(&job, shown.outcome));
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT idx, case_id, outcome, error_code, error_detail, version, action FROM job_items \
                 WHERE job_seq = ?1 AND idx > ?2 AND {filter} ORDER BY idx LIMIT ?3"
            ))?;
            let rows = stmt.query_map(
                (seq, shown.after.unwrap_or(-1), i64::from(shown.limit) + 1),
                |r| {
                    let idx: i64 = r.get(0)?;
                    let rec = ItemRecord::from_columns(
                        idx,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    );
                    Ok((idx, ItemRecord { action: r.get(6)?, ..rec }))
                },
            )?;
            let items = rows.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Some(page(items, shown.limit)))
        })
        .await
    }

    async fn runnable_jobs(&self, owner: &str, now: Timestamp, limit: u32) -> Result<Vec<String>> {
        let owner = owner.to_owned();
        self.read(move |conn, _| {
            let mut stmt = conn.prepare_cached(
                "SELECT job_id FROM jobs WHERE state IN ('queued', 'running') \
                 AND (lease_owner IS NULL OR lease_owner = ?1 OR lease_expires_at < ?2) \
                 ORDER BY last_worked_at IS NOT NULL, last_worked_at, seq LIMIT ?3",
            )?;
            let rows = stmt.query_map((owner, now.0, i64::from(limit)), |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
        })
        .await
    }

    async fn run_chunk(&self, job_id: &str, claim: Claim) -> Result<ChunkResult> {
        let job_id = job_id.to_owned();
        let render = self.render();
        self.write(move |conn, wf| {
            let tx = immediate(conn)?;
            let claimed: Option<ClaimRow> = tx
                .prepare_cached(&format!(
                    "UPDATE jobs SET state = 'running', started_at = COALESCE(started_at, ?3), lease_owner = ?2, \
                     lease_expires_at = ?4, last_worked_at = ?3 \
                     WHERE job_id = ?1 AND state IN ('queued', 'running') \
                     AND (lease_owner IS NULL OR lease_owner = ?2 OR lease_expires_at < ?3) \
                     RETURNING {CLAIM_RETURNING}",
                ))?
                .query_row((&job_id, &claim.owner, claim.now.0, claim.lease_until.0), |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?, r.get(10)?, r.get(11)?))
                })
                .optional()?;
            let Some(job) = claimed.map(ClaimedJob::from) else {
                return Ok(ChunkResult::NotClaimed);
            };
            let limit = match job.start(claim.chunk_size) {
                ChunkStart::Drained => {
                    tx.commit()?;
                    return Ok(ChunkResult::Drained);
                }
                ChunkStart::Cancel => {
                    end_job(&tx, job.seq, JobState::Cancelled, claim.now)?;
                    return ended(tx, &job_id, None, Vec::new(), &render);
                }
                ChunkStart::Apply { limit } => limit,
            };
            let items: Vec<(i64, String, String)> = tx
                .prepare_cached(
                    "SELECT idx, case_id, item FROM job_items WHERE job_seq = ?1 AND idx >= ?2 ORDER BY idx LIMIT ?3",
                )?
                .query_map((job.seq, job.next_index, limit), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?;
            // A dry run takes no position in the commit order: it commits no change.
            let commit = if job.dry_run { CommitSeq(counter(&tx, "commit")?) } else { next_commit(&tx)? };
            let ctx = ChangeContext { actor: &job.actor, at: claim.now, job_id: Some(&job_id) };
            let mut results = Vec::with_capacity(items.len());
            let mut changed = Vec::new();
            let mut changes = Vec::new();
            let (mut made, mut numbers) = (Vec::new(), 0_u64);
            for (idx, case_id, item) in &items {
                let r = match job.kind {
                    JobKind::Delete => delete_item(&tx, &job, case_id, &ctx)?,
                    JobKind::Update => apply_item(&tx, wf, &job, (case_id, item), &ctx, commit)?,
                    JobKind::Create => {
                        let r = create_case_item(&tx, wf, &job, item, (&ctx, commit), &mut numbers)?;
                        results.push((*idx, r.map(|m| {
                            if let Some(c) = m.logged {
                                changed.push(m.case_id.clone());
                                changes.push(c);
                            }
                            made.push((*idx, m.case_id, m.action));
                            m.version
                        })));
                        continue;
                    }
                };
                let r = r.map(|(v, logged)| {
                    if !logged.is_empty() {
                        changed.push(case_id.clone());
                        changes.extend(logged);
                    }
                    v
                });
                results.push((*idx, r));
            }
            let (outcomes, counters, drained) = match job.plan(results) {
                ChunkPlan::FailAtomic { outcomes, failed } => {
                    // Nothing of the chunk is kept: its items' outcomes and the job's end
                    // go in a transaction of their own.
                    drop(tx);
                    let tx = immediate(conn)?;
                    write_outcomes(&tx, job.seq, &outcomes)?;
                    tx.prepare_cached(
                        "UPDATE jobs SET processed = total, failed = ?2, succeeded = 0 WHERE seq = ?1",
                    )?
                    .execute((job.seq, failed))?;
                    end_job(&tx, job.seq, JobState::Failed, claim.now)?;
                    return ended(tx, &job_id, None, Vec::new(), &render);
                }
                ChunkPlan::Commit { outcomes, counters, drained } => (outcomes, counters, drained),
            };
            write_outcomes(&tx, job.seq, &outcomes)?;
            let mut what = tx.prepare_cached("UPDATE job_items SET case_id = ?3, action = ?4 WHERE job_seq = ?1 AND idx = ?2")?;
            for (idx, case_id, action) in &made {
                what.execute((job.seq, idx, case_id, action.as_str()))?;
            }
            drop(what);
            tx.prepare_cached(
                "UPDATE jobs SET processed = processed + ?2, succeeded = succeeded + ?3, failed = failed + ?4, \
                 next_index = ?5, last_commit_seq = CASE WHEN ?6 THEN ?7 ELSE last_commit_seq END WHERE seq = ?1",
            )?
            .execute(rusqlite::params![
                job.seq,
                counters.processed,
                counters.succeeded,
                counters.failed,
                counters.next_index,
                !changed.is_empty(),
                commit.0
            ])?;
            // One node per file: no other node can hold a cache.
            let finish = claim.finish.finish(drained) != Finish::No;
            if finish {
                // The job's end is now, after its last item, not when the chunk began.
                end_job(&tx, job.seq, JobState::Completed, (claim.clock)())?;
            }
            if let Some(hook) = &claim.before_commit {
                hook(&changed, commit);
            }
            if finish {
                return ended(tx, &job_id, Some(commit), changes, &render);
            }
            record_changes(&tx, commit, &changes, &render)?;
            tx.commit()?;
            Ok(ChunkResult::Applied {
                processed: u64::try_from(counters.processed).unwrap_or(0),
                changed,
                commit,
                drained,
            })
        })
        .await
    }

    async fn finish_job(&self, job_id: &str, now: Timestamp) -> Result<Option<Job>> {
        let job_id = job_id.to_owned();
        let render = self.render();
        self.write(move |conn, _| {
            let tx = immediate(conn)?;
            let seq: Option<i64> = tx
                .prepare_cached("SELECT seq FROM jobs WHERE job_id = ?1 AND state = 'running' AND processed >= total")?
                .query_row([&job_id], |r| r.get(0))
                .optional()?;
            let Some(seq) = seq else { return Ok(None) };
            end_job(&tx, seq, JobState::Completed, now)?;
            match ended(tx, &job_id, None, Vec::new(), &render)? {
                ChunkResult::Ended(job) => Ok(Some(job)),
                _ => Ok(None),
            }
        })
        .await
    }
}
