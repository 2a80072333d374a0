//! PostgreSQL: durable jobs. A chunk is one transaction: claim the job (lease), lock the
//! chunk's cases, apply the domain rules in memory, write everything set-based.

use crate::domain::chunk::{
    CLAIM_RETURNING, ChunkPlan, ChunkStart, ClaimRow, ClaimedJob, Finish, Outcome,
};
use crate::domain::rules::{self, KeyUse};
use crate::store::JobStore;
use crate::store::case_list::{Dialect, Param, matches_sql};
use crate::store::{JobsPage, ResultsPage};
use async_trait::async_trait;
use sqlx::AssertSqlSafe;
use std::collections::HashMap;

use super::chunk::write_chunk;
use super::comments::insert_applied_comments;
use super::create_items::create_case_item;
use super::nodes::notify;
use super::rows::{CASE_COLUMNS, JOB_COLUMNS, case_from_row, job_from_row};
use super::thin::keep_deleted;
use super::{PgStore, Tx, counter, next_commit, record_more};
use crate::domain::feed::{Change, JOB_ACTOR, Render};
use crate::domain::{
    Case, CaseId, ChangeContext, ItemError, Job, JobKind, JobState, Timestamp, apply_change,
    random_hex,
};
use crate::store::{
    ByFilter, ChunkResult, Claim, CommitSeq, Error, ItemRecord, JobItems, NewJob, Paged, Result,
    Signal, SubmitLimits, Submitted, page_of,
};

/// Loads a job by id, with its queue position when queued.
pub(super) async fn load_job(
    conn: &mut sqlx::PgConnection,
    id: &str,
) -> Result<Option<(i64, Job)>> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((seq, mut job)) = row.as_ref().map(job_from_row).transpose()? else {
        return Ok(None);
    };
    if job.state == JobState::Queued {
        let ahead: i64 =
            sqlx::query_scalar("SELECT count(*) FROM jobs WHERE state = 'queued' AND seq <= $1")
                .bind(seq)
                .fetch_one(&mut *conn)
                .await?;
        job.queue_position = Some(u64::try_from(ahead).unwrap_or(1));
    }
    Ok(Some((seq, job)))
}

pub(super) async fn insert_job(tx: &mut Tx, job: &NewJob) -> Result<i64> {
    let (key, hash) = match &job.idempotency {
        Some((k, h)) => (Some(k.as_str()), Some(h.as_str())),
        None => (None, None),
    };
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO jobs (job_id, state, total, atomic, callback_url, parent_job_id, actor, idempotency_key, \
         request_hash, created_at, dry_run, revert_of, template, kind, upsert_by) \
         VALUES ($1, 'queued', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING seq",
    )
    .bind(&job.id)
    .bind(i64::try_from(job.items.len()).unwrap_or(i64::MAX))
    .bind(job.atomic)
    .bind(&job.callback_url)
    .bind(&job.parent_id)
    .bind(&job.actor)
    .bind(key)
    .bind(hash)
    .bind(job.created_at.0)
    .bind(job.dry_run)
    .bind(&job.revert_of)
    .bind(&job.template)
    .bind(job.kind.as_str())
    .bind(&job.upsert_by)
    .fetch_one(&mut **tx)
    .await?;
    match &job.items {
        JobItems::Listed(items) => insert_items(tx, seq, 0, items).await?,
        JobItems::Spooled(spool) => {
            // In batches, so the items are never all in memory.
            let mut reader = spool.reader()?;
            let mut first = 0;
            loop {
                let batch = reader.batch(10_000)?;
                if batch.is_empty() {
                    break;
                }
                insert_items(tx, seq, first, &batch).await?;
                first += batch.len() as i64;
            }
        }
    }
    Ok(seq)
}

/// Stores `items` as the items of job `seq`, indexed from `first`: set-based, in slices
/// so one statement's arrays stay moderate.
pub(super) async fn insert_items(
    tx: &mut Tx,
    seq: i64,
    first: i64,
    items: &[(String, String)],
) -> Result<()> {
    for (n, slice) in items.chunks(10_000).enumerate() {
        let base = first + (n * 10_000) as i64;
        let idx: Vec<i64> = (0..slice.len() as i64).map(|i| base + i).collect();
        let ids: Vec<&str> = slice.iter().map(|(c, _)| c.as_str()).collect();
        let items: Vec<&str> = slice.iter().map(|(_, i)| i.as_str()).collect();
        sqlx::query(
            "INSERT INTO job_items (job_seq, idx, case_id, item) \
             SELECT $1, u.idx, u.case_id, u.item FROM unnest($2::bigint[], $3::text[], $4::text[]) AS u(idx, case_id, item)",
        )
        .bind(seq)
        .bind(&idx)
        .bind(&ids)
        .bind(&items)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Stores the cases matching `by` as the items of job `seq` (see
/// [`matches_sql`]) and sets the job's total; the number.
async fn insert_matches(tx: &mut Tx, seq: i64, by: &ByFilter) -> Result<u64> {
    let q = matches_sql(by, Dialect::Postgres)?;
    let mut query = sqlx::query(AssertSqlSafe(q.sql)).persistent(false);
    for p in q.params {
        query = match p {
            Param::Int(i) => query.bind(i),
            Param::Text(t) => query.bind(t),
        };
    }
    let n = query.bind(seq).execute(&mut **tx).await?.rows_affected();
    sqlx::query("UPDATE jobs SET total = $2 WHERE seq = $1")
        .bind(seq)
        .bind(i64::try_from(n).unwrap_or(i64::MAX))
        .execute(&mut **tx)
        .await?;
    Ok(n)
}

/// Moves a job to a final state and queues its callback, in the caller's transaction.
/// Its consistency token becomes the store's current commit.
pub(super) async fn end_job(tx: &mut Tx, seq: i64, state: JobState, now: Timestamp) -> Result<()> {
    let (job_id, url): (String, Option<String>) = sqlx::query_as(
        "UPDATE jobs SET state = $2, finished_at = $3, lease_owner = NULL, lease_expires_at = NULL, \
         last_commit_seq = (SELECT value FROM counters WHERE name = 'commit') WHERE seq = $1 \
         RETURNING job_id, callback_url",
    )
    .bind(seq)
    .bind(state.as_str())
    .bind(now.0)
    .fetch_one(&mut **tx)
    .await?;
    notify(tx, &Signal::Job(job_id)).await?;
    if let Some(url) = url {
        sqlx::query(
            "INSERT INTO callback_deliveries (delivery_id, job_seq, url, event, state, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, $4, 'pending', $5, $5)",
        )
        .bind(format!("dlv-{}", random_hex(10)))
        .bind(seq)
        .bind(url)
        .bind(format!("job.{state}"))
        .bind(now.0)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// `idx, case_id, outcome, error_code, error_detail, version` of `job_items`.
type ResultRow = (
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
);

/// Records each item's outcome in its `job_items` row, in one statement.
async fn write_outcomes(tx: &mut Tx, job_seq: i64, outcomes: &[(i64, Outcome)]) -> Result<()> {
    let n = outcomes.len();
    let (mut idx, mut outcome, mut code, mut detail, mut version) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for (i, o) in outcomes {
        let c = o.columns();
        idx.push(*i);
        outcome.push(c.outcome);
        code.push(c.error_code);
        detail.push(c.error_detail);
        version.push(c.version);
    }
    sqlx::query(
        "UPDATE job_items j SET outcome = u.outcome, error_code = u.code, error_detail = u.detail, version = u.version \
         FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[]) AS u(idx, outcome, code, detail, version) \
         WHERE j.job_seq = $1 AND j.idx = u.idx",
    )
    .bind(job_seq)
    .bind(&idx)
    .bind(&outcome)
    .bind(&code)
    .bind(&detail)
    .bind(&version)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Commits `tx`, in which the job ended; the job as it ended.
async fn ended(
    mut tx: Tx,
    job_id: &str,
    (commit, stored): (Option<CommitSeq>, i64),
    mut changes: Vec<Change>,
    render: &Render,
) -> Result<ChunkResult> {
    let (_, job) = load_job(&mut tx, job_id).await?.ok_or(Error::NotFound)?;
    changes.extend(Change::job_ended(&job, JOB_ACTOR));
    let first = match commit {
        Some(c) => c,
        // Nothing to record (a dry run's end): no position in the commit order.
        None if changes.is_empty() => CommitSeq(counter(&mut *tx, "commit").await?),
        None => next_commit(&mut tx).await?,
    };
    record_more(&mut tx, first, stored, &changes, render).await?;
    tx.commit().await?;
    Ok(ChunkResult::Ended(job))
}

/// Deletes the chunk's deleted cases with their history, tasks and tags, set-based
/// (their title rows go by trigger), keeping what their thin changes need.
async fn delete_cases(tx: &mut Tx, deleted: &[(i64, &Case)]) -> Result<()> {
    if deleted.is_empty() {
        return Ok(());
    }
    let seqs: Vec<i64> = deleted.iter().map(|(s, _)| *s).collect();
    keep_deleted(tx, &seqs).await?;
    for sql in [
        "DELETE FROM case_history WHERE case_seq = ANY($1)",
        "DELETE FROM tasks WHERE case_seq = ANY($1)",
        "DELETE FROM comments WHERE case_seq = ANY($1)",
        "DELETE FROM case_tags WHERE case_seq = ANY($1)",
        "DELETE FROM cases WHERE seq = ANY($1)",
    ] {
        sqlx::query(sql).bind(&seqs).execute(&mut **tx).await?;
    }
    Ok(())
}

/// A submission that stored nothing: its answer, at the position it was read at.
async fn unchanged(mut tx: Tx, answer: Submitted) -> Result<(Submitted, CommitSeq)> {
    Ok((answer, CommitSeq(counter(&mut *tx, "commit").await?)))
}

#[async_trait]
impl JobStore for PgStore {
    async fn submit_job(
        &self,
        job: NewJob,
        limits: SubmitLimits,
    ) -> Result<(Submitted, CommitSeq)> {
        let mut tx = self.begin().await?;
        if let Some((key, hash)) = &job.idempotency {
            // Serialise submissions of one key across nodes.
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
                .bind(key)
                .execute(&mut *tx)
                .await?;
            let found: Option<(i64, String, i64, String)> = sqlx::query_as(
                "SELECT seq, request_hash, created_at, job_id FROM jobs WHERE idempotency_key = $1",
            )
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
            let held = found
                .as_ref()
                .map(|(_, h, at, _)| (h.as_str(), Timestamp(*at)));
            match rules::key_use(held, hash, limits.idempotency_since) {
                KeyUse::Reused => return unchanged(tx, Submitted::KeyReused).await,
                KeyUse::Replay => {
                    let job_id = found.as_ref().map_or("", |f| f.3.as_str());
                    let (_, original) = load_job(&mut tx, job_id).await?.ok_or(Error::NotFound)?;
                    return unchanged(tx, Submitted::Replayed(original)).await;
                }
                KeyUse::New => {
                    // A key past its time is freed for this job.
                    if let Some((seq, ..)) = found {
                        sqlx::query("UPDATE jobs SET idempotency_key = NULL WHERE seq = $1")
                            .bind(seq)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
            }
        }
        let queued: i64 = sqlx::query_scalar(
            "SELECT COALESCE(SUM(total - processed), 0)::bigint FROM jobs WHERE state IN ('queued', 'running')",
        )
        .fetch_one(&mut *tx)
        .await?;
        let queued = u64::try_from(queued).unwrap_or(0);
        if queued + job.items.len() > limits.max_queued_items {
            return unchanged(tx, Submitted::QueueFull { queued }).await;
        }
        let seq = insert_job(&mut tx, &job).await?;
        if let Some(by) = &job.by_filter {
            let count = insert_matches(&mut tx, seq, by).await?;
            if let Some(refused) = rules::refuse_matches(by, count, queued, limits) {
                // Rolled back with the transaction: nothing of the job stays.
                return unchanged(tx, refused).await;
            }
            if count == 0 {
                // Nothing matches: the job completes at once, in its own transaction.
                end_job(&mut tx, seq, JobState::Completed, job.created_at).await?;
                let commit = match job.dry_run {
                    true => None,
                    false => Some(next_commit(&mut tx).await?),
                };
                return match ended(tx, &job.id, (commit, 0), Vec::new(), &self.render).await? {
                    ChunkResult::Ended(done) => {
                        let at = CommitSeq(done.last_commit);
                        Ok((Submitted::Created(done), commit.unwrap_or(at)))
                    }
                    _ => Err(Error::NotFound),
                };
            }
        }
        notify(&mut tx, &Signal::Queued).await?;
        let (_, created) = load_job(&mut tx, &job.id).await?.ok_or(Error::NotFound)?;
        // Last, so the commit order's lock is held only for the commit itself.
        let commit = next_commit(&mut tx).await?;
        tx.commit().await?;
        Ok((Submitted::Created(created), commit))
    }

    async fn get_job(&self, id: &str) -> Result<Option<Job>> {
        Ok(load_job(&mut *self.pool.acquire().await?, id)
            .await?
            .map(|(_, j)| j))
    }

    async fn list_jobs(&self, q: JobsPage) -> Result<Paged<Job>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE seq < $1 AND ($2::text IS NULL OR state = $2) ORDER BY seq DESC LIMIT $3"
        )))
        .bind(q.before.unwrap_or(i64::MAX))
        .bind(q.state.map(JobState::as_str))
        .bind(i64::from(q.limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        Ok(page_of(
            rows.iter().map(job_from_row).collect::<Result<_>>()?,
            q.limit,
        ))
    }

    async fn job_results(&self, id: &str, shown: ResultsPage) -> Result<Option<Paged<ItemRecord>>> {
        let Some((seq, job)) = load_job(&mut *self.pool.acquire().await?, id).await? else {
            return Ok(None);
        };
        let filter = crate::store::sql::results_where(rules::results_shown(&job, shown.outcome));
        let rows: Vec<ResultRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT idx, case_id, outcome, error_code, error_detail, version, action FROM job_items \
             WHERE job_seq = $1 AND idx > $2 AND {filter} ORDER BY idx LIMIT $3"
        )))
        .bind(seq)
        .bind(shown.after.unwrap_or(-1))
        .bind(i64::from(shown.limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .into_iter()
            .map(|(idx, case_id, outcome, code, detail, version, action)| {
                let rec = ItemRecord::from_columns(idx, case_id, outcome, code, detail, version);
                (idx, ItemRecord { action, ..rec })
            })
            .collect();
        Ok(Some(page_of(items, shown.limit)))
    }

    async fn runnable_jobs(&self, owner: &str, now: Timestamp, limit: u32) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT job_id FROM jobs WHERE state IN ('queued', 'running') \
             AND (lease_owner IS NULL OR lease_owner = $1 OR lease_expires_at < $2) \
             ORDER BY last_worked_at NULLS FIRST, seq LIMIT $3",
        )
        .bind(owner)
        .bind(now.0)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }

    async fn run_chunk(&self, job_id: &str, claim: Claim) -> Result<ChunkResult> {
        let mut tx = self.begin().await?;
        // SKIP LOCKED: a job another node is claiming right now is not waited for.
        let claimed: Option<ClaimRow> = sqlx::query_as(AssertSqlSafe(format!(
            "UPDATE jobs SET state = 'running', started_at = COALESCE(started_at, $3), lease_owner = $2, \
             lease_expires_at = $4, last_worked_at = $3 \
             WHERE seq = (SELECT seq FROM jobs WHERE job_id = $1 AND state IN ('queued', 'running') \
                 AND (lease_owner IS NULL OR lease_owner = $2 OR lease_expires_at < $3) FOR UPDATE SKIP LOCKED) \
             RETURNING {CLAIM_RETURNING}"
        )))
        .bind(job_id)
        .bind(&claim.owner)
        .bind(claim.now.0)
        .bind(claim.lease_until.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(job) = claimed.map(ClaimedJob::from) else {
            return Ok(ChunkResult::NotClaimed);
        };
        let limit = match job.start(claim.chunk_size) {
            ChunkStart::Drained => {
                tx.commit().await?;
                return Ok(ChunkResult::Drained);
            }
            ChunkStart::Cancel => {
                end_job(&mut tx, job.seq, JobState::Cancelled, claim.now).await?;
                return ended(tx, job_id, (None, 0), Vec::new(), &self.render).await;
            }
            ChunkStart::Apply { limit } => limit,
        };
        let items: Vec<(i64, String, String)> =
            sqlx::query_as("SELECT idx, case_id, item FROM job_items WHERE job_seq = $1 AND idx >= $2 ORDER BY idx LIMIT $3")
                .bind(job.seq)
                .bind(job.next_index)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
        // Lock the chunk's cases in one statement (in id order, so chunks never deadlock);
        // a dry run only reads them.
        let mut ids: Vec<&str> = items.iter().map(|(_, c, _)| c.as_str()).collect();
        ids.sort_unstable();
        let lock = if job.dry_run { "" } else { " FOR UPDATE" };
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {CASE_COLUMNS} FROM cases WHERE case_id = ANY($1) ORDER BY case_id{lock}"
        )))
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
        let mut cases: HashMap<String, (i64, Case)> = HashMap::with_capacity(rows.len());
        for r in &rows {
            let (s, c) = case_from_row(r)?;
            cases.insert(c.id.as_str().to_owned(), (s, c));
        }
        // A dry run takes no position in the commit order: it commits no change.
        let commit = if job.dry_run {
            CommitSeq(counter(&mut *tx, "commit").await?)
        } else {
            next_commit(&mut tx).await?
        };
        let ctx = ChangeContext {
            actor: &job.actor,
            at: claim.now,
            job_id: Some(job_id),
        };
        let mut applied = Vec::new();
        let mut deleted: Vec<(i64, &Case)> = Vec::new();
        let mut results = Vec::with_capacity(items.len());
        // A bulk create's items: what each did, and the changes they made.
        let (mut made, mut created, mut numbers) = (Vec::new(), Vec::new(), 0_u64);
        for (idx, case_id, item) in &items {
            if job.kind == JobKind::Create {
                let step = (&ctx, commit);
                let r = create_case_item(&mut tx, &self.workflow, &job, item, step, &mut numbers)
                    .await?
                    .map(|m| {
                        if let Some(c) = m.change {
                            created.push((m.case_id.clone(), c));
                        }
                        made.push((*idx, m.case_id, m.action.as_str()));
                        m.version
                    });
                results.push((*idx, r));
                continue;
            }
            let r = match (CaseId::parse(case_id), cases.get(case_id.as_str())) {
                (Ok(_), Some((s, case))) if job.kind == JobKind::Delete => {
                    if !job.dry_run {
                        deleted.push((*s, case));
                    }
                    Ok(case.version + 1)
                }
                (Ok(_), Some((s, case))) => job
                    .change(item, &self.workflow)
                    .and_then(|change| apply_change(case, &change, &self.workflow, &ctx))
                    .map(|a| {
                        let v = a.case.version;
                        if a.changed() && !job.dry_run {
                            applied.push((*s, a));
                        }
                        v
                    }),
                _ => Err(ItemError::CaseNotFound(case_id.clone())),
            };
            results.push((*idx, r));
        }
        let (outcomes, counters, drained) = match job.plan(results) {
            ChunkPlan::FailAtomic { outcomes, failed } => {
                // Nothing of the chunk is kept: its items' outcomes and the job's end go
                // in a transaction of their own.
                tx.rollback().await?;
                let mut tx = self.begin().await?;
                write_outcomes(&mut tx, job.seq, &outcomes).await?;
                sqlx::query(
                    "UPDATE jobs SET processed = total, failed = $2, succeeded = 0 WHERE seq = $1",
                )
                .bind(job.seq)
                .bind(failed)
                .execute(&mut *tx)
                .await?;
                end_job(&mut tx, job.seq, JobState::Failed, claim.now).await?;
                return ended(tx, job_id, (None, 0), Vec::new(), &self.render).await;
            }
            ChunkPlan::Commit {
                outcomes,
                counters,
                drained,
            } => (outcomes, counters, drained),
        };
        // The chunk's `case.updated` changes, when written with its cases.
        let stored = write_chunk(&mut tx, &applied, commit).await?;
        // Each item's comment: part of its change (the same version), recorded after it.
        let comments = insert_applied_comments(&mut tx, &applied, &ctx).await?;
        delete_cases(&mut tx, &deleted).await?;
        write_outcomes(&mut tx, job.seq, &outcomes).await?;
        if !made.is_empty() {
            let (idx, ids, actions): (Vec<i64>, Vec<&str>, Vec<&str>) =
                made.iter().map(|(i, c, a)| (*i, c.as_str(), *a)).collect();
            sqlx::query(
                "UPDATE job_items j SET case_id = u.case_id, action = u.action \
                 FROM unnest($2::bigint[], $3::text[], $4::text[]) AS u(idx, case_id, action) \
                 WHERE j.job_seq = $1 AND j.idx = u.idx",
            )
            .bind(job.seq)
            .bind(&idx)
            .bind(&ids)
            .bind(&actions)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE jobs SET processed = processed + $2, succeeded = succeeded + $3, failed = failed + $4, \
             next_index = $5, last_commit_seq = CASE WHEN $6 THEN $7 ELSE last_commit_seq END WHERE seq = $1",
        )
        .bind(job.seq)
        .bind(counters.processed)
        .bind(counters.succeeded)
        .bind(counters.failed)
        .bind(counters.next_index)
        .bind(!applied.is_empty() || !deleted.is_empty() || !created.is_empty())
        .bind(commit.0)
        .execute(&mut *tx)
        .await?;
        let changed: Vec<String> = applied
            .iter()
            .map(|(_, a)| a.case.id.as_str().to_owned())
            .chain(deleted.iter().map(|(_, c)| c.id.as_str().to_owned()))
            .chain(created.iter().map(|(id, _)| id.clone()))
            .collect();
        if !changed.is_empty() {
            let signal = Signal::Invalidate {
                commit: commit.0,
                by_job: true,
                keys: changed.clone(),
            };
            notify(&mut tx, &signal).await?;
        }
        let finish = match claim.finish.finish(drained) {
            Finish::No => false,
            Finish::Yes => true,
            Finish::IfNoOtherNode { node, ttl_ms } => {
                // The store's clock, as heartbeats record it (see nodes.rs).
                let others: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM nodes WHERE node_id <> $2 \
                     AND heartbeat_at >= (extract(epoch FROM clock_timestamp()) * 1000)::bigint - $1",
                )
                .bind(ttl_ms)
                .bind(node)
                .fetch_one(&mut *tx)
                .await?;
                others == 0
            }
        };
        if finish {
            // The job's end is now, after its last item, not when the chunk began.
            end_job(&mut tx, job.seq, JobState::Completed, (claim.clock)()).await?;
        } else {
            notify(&mut tx, &Signal::Job(job_id.to_owned())).await?;
        }
        if let Some(hook) = &claim.before_commit {
            hook(&changed, commit);
        }
        let changes: Vec<Change> = applied
            .iter()
            .zip(comments)
            .flat_map(|((_, a), comment)| {
                let fields = (stored == 0 && !a.history.is_empty())
                    .then(|| Change::case_updated(&a.case, &a.history));
                fields.into_iter().chain(comment)
            })
            .chain(
                deleted
                    .iter()
                    .map(|(_, c)| Change::case_deleted_by_job(c, &ctx)),
            )
            .chain(created.into_iter().map(|(_, c)| c))
            .collect();
        if finish {
            return ended(tx, job_id, (Some(commit), stored), changes, &self.render).await;
        }
        record_more(&mut tx, commit, stored, &changes, &self.render).await?;
        tx.commit().await?;
        Ok(ChunkResult::Applied {
            processed: u64::try_from(counters.processed).unwrap_or(0),
            changed,
            commit,
            drained,
        })
    }

    async fn finish_job(&self, job_id: &str, now: Timestamp) -> Result<Option<Job>> {
        let mut tx = self.begin().await?;
        let seq: Option<i64> = sqlx::query_scalar(
            "SELECT seq FROM jobs WHERE job_id = $1 AND state = 'running' AND processed >= total FOR UPDATE",
        )
        .bind(job_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(seq) = seq else { return Ok(None) };
        end_job(&mut tx, seq, JobState::Completed, now).await?;
        match ended(tx, job_id, (None, 0), Vec::new(), &self.render).await? {
            ChunkResult::Ended(job) => Ok(Some(job)),
            _ => Ok(None),
        }
    }
}
