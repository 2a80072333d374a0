//! PostgreSQL: cancelling, retrying, deleting and purging jobs; leases; callbacks.

use super::jobs::{end_job, insert_items, insert_job, load_job};
use super::{PgStore, Tx, counter, next_commit, record_changes};
use crate::domain::feed::{Change, JOB_ACTOR, Render};
use crate::domain::job_records::DeliveryRow;
use crate::domain::revert::{
    REVERT_PAGE, RevertRefusal, Reverted, Undo, revert_items, revert_refusal,
};
use crate::domain::rules::{self, CancelStep};
use crate::domain::{CommitSeq, JobState, Timestamp};
use crate::store::sql::{Dialect, retry_copy_sql};
use crate::store::{Attempt, Delivery, DeliveryView, Error, JobChange, JobOrigin, NewJob, Result};
use crate::store::{CallbackStore, JobAdminStore};
use async_trait::async_trait;
use sqlx::AssertSqlSafe;
use std::collections::HashSet;

/// Ends a job change: commits `Done` at a commit position of its own; anything else
/// changes nothing and answers with the position it was read at.
/// `changes` are what it records in the feed.
async fn settle(
    mut tx: Tx,
    change: JobChange,
    changes: &[Change],
    render: &Render,
) -> Result<(JobChange, CommitSeq)> {
    if !matches!(change, JobChange::Done(_)) {
        let at = CommitSeq(counter(&mut *tx, "commit").await?);
        // Ended now, so the job's row lock goes at once.
        tx.rollback().await?;
        return Ok((change, at));
    }
    let commit = next_commit(&mut tx).await?;
    let commit = record_changes(&mut tx, commit, changes, render).await?;
    tx.commit().await?;
    Ok((change, commit))
}

#[async_trait]
impl JobAdminStore for PgStore {
    async fn cancel_job(&self, id: &str, now: Timestamp) -> Result<(JobChange, CommitSeq)> {
        let mut tx = self.begin().await?;
        let seq: Option<i64> =
            sqlx::query_scalar("SELECT seq FROM jobs WHERE job_id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(seq) = seq else {
            return settle(tx, JobChange::NotFound, &[], &self.render).await;
        };
        let (_, job) = load_job(&mut tx, id).await?.ok_or(Error::NotFound)?;
        match rules::cancel_step(job.state) {
            CancelStep::EndNow => end_job(&mut tx, seq, JobState::Cancelled, now).await?,
            CancelStep::AskWorkerToStop => {
                super::nodes::notify(&mut tx, &crate::store::Signal::Queued).await?;
                sqlx::query("UPDATE jobs SET cancel_requested = TRUE WHERE seq = $1")
                    .bind(seq)
                    .execute(&mut *tx)
                    .await?;
            }
            CancelStep::Refuse => {
                return settle(tx, JobChange::WrongState(job), &[], &self.render).await;
            }
        }
        let (_, job) = load_job(&mut tx, id).await?.ok_or(Error::NotFound)?;
        // A queued job it ended says so in the feed.
        let ended: Vec<Change> = Change::job_ended(&job, JOB_ACTOR).into_iter().collect();
        settle(tx, JobChange::Done(job), &ended, &self.render).await
    }

    async fn retry_failed(&self, id: &str, new: JobOrigin) -> Result<(JobChange, CommitSeq)> {
        let mut tx = self.begin().await?;
        let Some((seq, job)) = load_job(&mut tx, id).await? else {
            return settle(tx, JobChange::NotFound, &[], &self.render).await;
        };
        let Some(which) = rules::retry_items(&job) else {
            return settle(tx, JobChange::WrongState(job), &[], &self.render).await;
        };
        let kept: (Option<String>, Option<String>) =
            sqlx::query_as("SELECT template, upsert_by FROM jobs WHERE seq = $1")
                .bind(seq)
                .fetch_one(&mut *tx)
                .await?;
        let new = NewJob::retry_of(&job, new, Vec::new(), kept);
        let new_seq = insert_job(&mut tx, &new).await?;
        let n = sqlx::query(AssertSqlSafe(retry_copy_sql(which, Dialect::Postgres)))
            .bind(new_seq)
            .bind(seq)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            // Rolled back: the new job goes with the transaction.
            return settle(tx, JobChange::NothingToDo(job), &[], &self.render).await;
        }
        sqlx::query("UPDATE jobs SET total = $2 WHERE seq = $1")
            .bind(new_seq)
            .bind(i64::try_from(n).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await?;
        super::nodes::notify(&mut tx, &crate::store::Signal::Queued).await?;
        let (_, created) = load_job(&mut tx, &new.id).await?.ok_or(Error::NotFound)?;
        settle(tx, JobChange::Done(created), &[], &self.render).await
    }

    async fn revert_job(&self, id: &str, new: JobOrigin) -> Result<(JobChange, CommitSeq)> {
        let mut tx = self.begin().await?;
        let Some((seq, job)) = load_job(&mut tx, id).await? else {
            return settle(tx, JobChange::NotFound, &[], &self.render).await;
        };
        match revert_refusal(&job) {
            Some(RevertRefusal::NotFinished) => {
                return settle(tx, JobChange::WrongState(job), &[], &self.render).await;
            }
            Some(RevertRefusal::DryRun | RevertRefusal::Deletion) => {
                return settle(tx, JobChange::NothingToDo(job), &[], &self.render).await;
            }
            None => {}
        }
        let new = NewJob::revert_of(&job, new);
        let new_seq = insert_job(&mut tx, &new).await?;
        let (mut after, mut total) = (-1_i64, 0_i64);
        loop {
            let page: Vec<(i64, String, Option<i64>)> = sqlx::query_as(
                "SELECT idx, case_id, version FROM job_items \
                 WHERE job_seq = $1 AND idx > $2 AND outcome = 'succeeded' ORDER BY idx LIMIT $3",
            )
            .bind(seq)
            .bind(after)
            .bind(REVERT_PAGE)
            .fetch_all(&mut *tx)
            .await?;
            let Some((last, ..)) = page.last() else { break };
            after = *last;
            let page: Vec<Reverted> = page
                .into_iter()
                .map(|(_, case_id, version)| Reverted { case_id, version })
                .collect();
            let ids: Vec<&str> = page.iter().map(|r| r.case_id.as_str()).collect();
            let history: Vec<(String, String, String)> = sqlx::query_as(
                "SELECT c.case_id, h.field, h.from_value FROM cases c \
                 JOIN case_history h ON h.case_seq = c.seq \
                 WHERE c.case_id = ANY($1) AND h.job_id = $2 ORDER BY h.id",
            )
            .bind(&ids)
            .bind(&job.id)
            .fetch_all(&mut *tx)
            .await?;
            let history: Vec<Undo> = history
                .into_iter()
                .map(|(case_id, field, from)| Undo {
                    case_id,
                    field,
                    from,
                })
                .collect();
            let existing: HashSet<String> =
                sqlx::query_scalar("SELECT case_id FROM cases WHERE case_id = ANY($1)")
                    .bind(&ids)
                    .fetch_all(&mut *tx)
                    .await?
                    .into_iter()
                    .collect();
            let items = revert_items(&page, &history, &existing);
            insert_items(&mut tx, new_seq, total, &items).await?;
            total += i64::try_from(items.len()).unwrap_or(0);
        }
        sqlx::query("UPDATE jobs SET total = $2 WHERE seq = $1")
            .bind(new_seq)
            .bind(total)
            .execute(&mut *tx)
            .await?;
        super::nodes::notify(&mut tx, &crate::store::Signal::Queued).await?;
        let (_, created) = load_job(&mut tx, &new.id).await?.ok_or(Error::NotFound)?;
        settle(tx, JobChange::Done(created), &[], &self.render).await
    }

    async fn delete_job(&self, id: &str) -> Result<(JobChange, CommitSeq)> {
        let mut tx = self.begin().await?;
        let Some((seq, job)) = load_job(&mut tx, id).await? else {
            return settle(tx, JobChange::NotFound, &[], &self.render).await;
        };
        if !rules::may_forget(&job) {
            return settle(tx, JobChange::WrongState(job), &[], &self.render).await;
        }
        forget_job(&mut tx, seq).await?;
        settle(tx, JobChange::Done(job), &[], &self.render).await
    }

    async fn purge_jobs(&self, before: Timestamp, limit: u32) -> Result<u64> {
        let mut tx = self.begin().await?;
        let expired: Vec<i64> = sqlx::query_scalar(
            "SELECT seq FROM jobs WHERE finished_at < $1 ORDER BY finished_at LIMIT 100 FOR UPDATE SKIP LOCKED",
        )
        .bind(before.0)
        .fetch_all(&mut *tx)
        .await?;
        for seq in &expired {
            forget_job(&mut tx, *seq).await?;
        }
        let pending: Option<i64> = sqlx::query_scalar(
            "SELECT job_seq FROM job_item_purges LIMIT 1 FOR UPDATE SKIP LOCKED",
        )
        .fetch_optional(&mut *tx)
        .await?;
        let mut removed = 0;
        if let Some(job_seq) = pending {
            removed = sqlx::query(
                "DELETE FROM job_items WHERE job_seq = $1 AND idx IN \
                 (SELECT idx FROM job_items WHERE job_seq = $1 ORDER BY idx LIMIT $2)",
            )
            .bind(job_seq)
            .bind(i64::from(limit))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if removed == 0 {
                sqlx::query("DELETE FROM job_item_purges WHERE job_seq = $1")
                    .bind(job_seq)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(expired.len() as u64 + removed)
    }

    async fn release_leases(&self, owner_prefix: Option<&str>) -> Result<()> {
        sqlx::query(
            "UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL \
             WHERE state IN ('queued', 'running') AND ($1::text IS NULL OR lease_owner LIKE $1 || '%')",
        )
        .bind(owner_prefix)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

#[async_trait]
impl CallbackStore for PgStore {
    async fn due_deliveries(&self, now: Timestamp, limit: u32) -> Result<Vec<Delivery>> {
        let rows: Vec<(String, String, String, String, i32, i64)> = sqlx::query_as(
            "SELECT d.delivery_id, j.job_id, d.url, d.event, d.attempts, d.created_at \
             FROM callback_deliveries d JOIN jobs j ON j.seq = d.job_seq \
             WHERE d.state = 'pending' AND d.next_attempt_at <= $1 ORDER BY d.next_attempt_at LIMIT $2",
        )
        .bind(now.0)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, job_id, url, event, attempts, created)| Delivery {
                id,
                job_id,
                url,
                event,
                attempts: u32::try_from(attempts).unwrap_or(0),
                created_at: Timestamp(created),
            })
            .collect())
    }

    async fn record_attempt(&self, id: &str, a: Attempt, next: Option<Timestamp>) -> Result<()> {
        let mut tx = self.begin().await?;
        let ok = a.status_code.is_some_and(|s| (200..300).contains(&s));
        let attempt: Option<i32> = sqlx::query_scalar(
            "UPDATE callback_deliveries SET attempts = attempts + 1, next_attempt_at = $2, \
             state = CASE WHEN $3 THEN 'delivered' WHEN $2::bigint IS NULL THEN 'failed' ELSE 'pending' END \
             WHERE delivery_id = $1 RETURNING attempts",
        )
        .bind(id)
        .bind(next.map(|t| t.0))
        .bind(ok)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(attempt) = attempt else {
            return Ok(());
        };
        sqlx::query(
            "INSERT INTO callback_attempts (delivery_id, attempt, at, status_code, error, duration_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(attempt)
        .bind(a.at.0)
        .bind(a.status_code.map(i32::from))
        .bind(&a.error)
        .bind(i64::try_from(a.duration_ms).unwrap_or(0))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn deliveries(&self, job_id: &str) -> Result<Option<Vec<DeliveryView>>> {
        let Some((seq, _)) = load_job(&mut *self.pool.acquire().await?, job_id).await? else {
            return Ok(None);
        };
        let mut tx = self.begin().await?;
        let views = delivery_views(&mut tx, seq).await?;
        tx.commit().await?;
        Ok(Some(views))
    }

    async fn redeliver(&self, job_id: &str, now: Timestamp) -> Result<DeliveryView> {
        let mut tx = self.begin().await?;
        let Some((seq, _)) = load_job(&mut tx, job_id).await? else {
            return Err(Error::NotFound);
        };
        let n = sqlx::query("UPDATE callback_deliveries SET state = 'pending', next_attempt_at = $2 WHERE job_seq = $1")
            .bind(seq)
            .bind(now.0)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(Error::NotFound);
        }
        let view = delivery_views(&mut tx, seq)
            .await?
            .into_iter()
            .next()
            .ok_or(Error::NotFound)?;
        tx.commit().await?;
        Ok(view)
    }
}

async fn forget_job(tx: &mut Tx, seq: i64) -> Result<()> {
    sqlx::query("DELETE FROM callback_attempts WHERE delivery_id IN (SELECT delivery_id FROM callback_deliveries WHERE job_seq = $1)")
        .bind(seq)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM callback_deliveries WHERE job_seq = $1")
        .bind(seq)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM jobs WHERE seq = $1")
        .bind(seq)
        .execute(&mut **tx)
        .await?;
    sqlx::query("INSERT INTO job_item_purges (job_seq) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(seq)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn delivery_views(tx: &mut Tx, job_seq: i64) -> Result<Vec<DeliveryView>> {
    let rows: Vec<DeliveryRow> = sqlx::query_as(
        "SELECT delivery_id, url, event, state, next_attempt_at FROM callback_deliveries WHERE job_seq = $1",
    )
    .bind(job_seq)
    .fetch_all(&mut **tx)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let attempts: Vec<(i64, Option<i32>, Option<String>, i64)> = sqlx::query_as(
            "SELECT at, status_code, error, duration_ms FROM callback_attempts WHERE delivery_id = $1 ORDER BY id",
        )
        .bind(&row.0)
        .fetch_all(&mut **tx)
        .await?;
        let attempts = attempts
            .into_iter()
            .map(|(at, code, error, ms)| (at, code.map(i64::from), error, ms))
            .collect();
        out.push(DeliveryView::from_rows(row, attempts));
    }
    Ok(out)
}
