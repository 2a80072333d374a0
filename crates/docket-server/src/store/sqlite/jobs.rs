//! SQLite: durable jobs. Each chunk is applied in one transaction that writes the case
//! changes and each item's outcome together, so a crash neither skips nor repeats an
//! item; while no other write waits, a job's next chunks join that transaction
//! ([`super::chunk::Group`]).

use crate::domain::chunk::{CLAIM_RETURNING, ChunkPlan, ChunkStart, ClaimRow, ClaimedJob, Finish};
use crate::domain::rules::{self, KeyUse};
use crate::store::JobStore;
use crate::store::sql::{JOB_COLUMNS, JobRow};
use crate::store::{JobsPage, ResultsPage};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, Transaction};

use super::SqliteStore;
use super::cases::{immediate, page};
use super::chunk::{Applied, Group, write_outcomes};
use super::job_rows::{end_job, ended, insert_job, insert_matches, job_row, load_job};
use super::rows::{counter, next_commit, record_changes};
use crate::domain::{ChangeContext, Job, JobState, Timestamp};
use crate::store::{
    ChunkResult, Claim, CommitSeq, ItemRecord, NewJob, Paged, Result, SubmitLimits, Submitted,
};

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
        let inner = self.inner.clone();
        self.write(move |conn, wf| {
            use std::sync::atomic::Ordering::Relaxed;
            let waiting = || inner.writes_waiting.load(Relaxed) > 0 || inner.winding_down.load(Relaxed);
            let group = Group { started: std::time::Instant::now(), budget: claim.group, waiting: &waiting };
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
            // A dry run takes no position in the commit order: it commits no change.
            let commit = if job.dry_run { CommitSeq(counter(&tx, "commit")?) } else { next_commit(&tx)? };
            let ctx = ChangeContext { actor: &job.actor, at: claim.now, job_id: Some(&job_id) };
            let mut done = Applied::default();
            let mut from = job.next_index;
            // Where the next recorded changes start: `commit` until the first are recorded.
            let mut first = Some(commit);
            loop {
                let items: Vec<(i64, String, String)> = tx
                    .prepare_cached(
                        "SELECT idx, case_id, item FROM job_items WHERE job_seq = ?1 AND idx >= ?2 ORDER BY idx LIMIT ?3",
                    )?
                    .query_map((job.seq, from, limit), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect::<rusqlite::Result<_>>()?;
                done.apply(&tx, wf, &job, &items, (&ctx, commit))?;
                let Some((last, ..)) = items.last() else { break };
                from = last + 1;
                let n = done.results.len();
                let left = job.processed + i64::try_from(n).unwrap_or(i64::MAX) < job.total;
                if job.atomic || !left || !group.more(n, usize::try_from(limit).unwrap_or(usize::MAX)) {
                    break;
                }
                // Going on: what is done so far is recorded, so memory holds one chunk's.
                if !done.changes.is_empty() {
                    let at = match first.take() { Some(p) => p, None => next_commit(&tx)? };
                    record_changes(&tx, at, &done.changes, &render)?;
                    done.changes.clear();
                }
            }
            let Applied { results, changed, changes, made, .. } = done;
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
            let first = match first { Some(p) => p, None if finish || !changes.is_empty() => next_commit(&tx)?, None => commit };
            if finish {
                return ended(tx, &job_id, Some(first), changes, &render);
            }
            record_changes(&tx, first, &changes, &render)?;
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

    fn winding_down(&self) {
        self.inner
            .winding_down
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
