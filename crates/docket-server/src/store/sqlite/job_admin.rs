//! SQLite: cancelling, retrying, deleting and purging jobs; leases; callback deliveries.

use crate::domain::rules::{self, CancelStep};
use crate::store::sql::{Dialect, retry_copy_sql};
use crate::store::{CallbackStore, JobAdminStore};
use async_trait::async_trait;
use rusqlite::OptionalExtension;

use super::SqliteStore;
use super::cases::immediate;
use super::job_rows::{end_job, insert_items, insert_job, load_job};
use super::rows::{Logged, Shows, counter, next_commit, record_changes};
use crate::domain::feed::{Change, JOB_ACTOR};
use crate::domain::job_records::DeliveryRow;
use crate::domain::revert::{
    REVERT_PAGE, RevertRefusal, Reverted, Undo, revert_items, revert_refusal,
};
use crate::domain::{CommitSeq, JobState, Timestamp};
use crate::store::{Attempt, Delivery, DeliveryView, Error, JobChange, JobOrigin, NewJob, Result};
use std::collections::HashSet;

impl SqliteStore {
    /// Runs `f` on job `id` in a write transaction, which commits (at a commit position
    /// of its own, with the feed's changes `f` names) when `f` answers `Done` and changes
    /// nothing otherwise; `NotFound` without calling `f` if there is no such job.
    async fn change_job<F>(&self, id: &str, f: F) -> Result<(JobChange, CommitSeq)>
    where
        F: FnOnce(
                &rusqlite::Transaction<'_>,
                i64,
                crate::domain::Job,
            ) -> Result<(JobChange, Vec<Change>)>
            + Send
            + 'static,
    {
        let id = id.to_owned();
        let render = self.render();
        self.write(move |conn, _| {
            let tx = immediate(conn)?;
            let (change, changes) = match load_job(&tx, &id)? {
                Some((seq, job)) => f(&tx, seq, job)?,
                None => (JobChange::NotFound, Vec::new()),
            };
            if !matches!(change, JobChange::Done(_)) {
                return Ok((change, CommitSeq(counter(&tx, "commit")?)));
            }
            let commit = next_commit(&tx)?;
            let changes: Vec<Logged> = changes.into_iter().map(|c| (c, Shows::Nothing)).collect();
            let commit = record_changes(&tx, commit, &changes, &render)?;
            tx.commit()?;
            Ok((change, commit))
        })
        .await
    }
}

#[async_trait]
impl JobAdminStore for SqliteStore {
    async fn cancel_job(&self, id: &str, now: Timestamp) -> Result<(JobChange, CommitSeq)> {
        self.change_job(id, move |tx, seq, job| {
            match rules::cancel_step(job.state) {
                CancelStep::EndNow => end_job(tx, seq, JobState::Cancelled, now)?,
                CancelStep::AskWorkerToStop => {
                    tx.execute("UPDATE jobs SET cancel_requested = 1 WHERE seq = ?1", [seq])?;
                }
                CancelStep::Refuse => return Ok((JobChange::WrongState(job), Vec::new())),
            }
            let (_, job) = load_job(tx, &job.id)?.ok_or(Error::NotFound)?;
            // A queued job it ended says so in the feed.
            let ended = Change::job_ended(&job, JOB_ACTOR).into_iter().collect();
            Ok((JobChange::Done(job), ended))
        })
        .await
    }

    async fn retry_failed(&self, id: &str, new: JobOrigin) -> Result<(JobChange, CommitSeq)> {
        self.change_job(id, move |tx, seq, job| {
            let Some(which) = rules::retry_items(&job) else {
                return Ok((JobChange::WrongState(job), Vec::new()));
            };
            let kept: (Option<String>, Option<String>) = tx.query_row(
                "SELECT template, upsert_by FROM jobs WHERE seq = ?1",
                [seq],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let new = NewJob::retry_of(&job, new, Vec::new(), kept);
            let new_seq = insert_job(tx, &new)?;
            let n = tx
                .prepare_cached(&retry_copy_sql(which, Dialect::Sqlite))?
                .execute((new_seq, seq))?;
            if n == 0 {
                // Not committed: the new job goes with the transaction.
                return Ok((JobChange::NothingToDo(job), Vec::new()));
            }
            tx.prepare_cached("UPDATE jobs SET total = ?2 WHERE seq = ?1")?
                .execute((new_seq, i64::try_from(n).unwrap_or(i64::MAX)))?;
            let (_, created) = load_job(tx, &new.id)?.ok_or(Error::NotFound)?;
            Ok((JobChange::Done(created), Vec::new()))
        })
        .await
    }

    async fn revert_job(&self, id: &str, new: JobOrigin) -> Result<(JobChange, CommitSeq)> {
        self.change_job(id, move |tx, seq, job| {
            match revert_refusal(&job) {
                Some(RevertRefusal::NotFinished) => return Ok((JobChange::WrongState(job), Vec::new())),
                Some(RevertRefusal::DryRun | RevertRefusal::Deletion) => {
                    return Ok((JobChange::NothingToDo(job), Vec::new()));
                }
                None => {}
            }
            let new = NewJob::revert_of(&job, new);
            let new_seq = insert_job(tx, &new)?;
            let (mut after, mut total) = (-1_i64, 0_i64);
            loop {
                let page: Vec<(i64, Reverted)> = tx
                    .prepare_cached(
                        "SELECT idx, case_id, version FROM job_items \
                         WHERE job_seq = ?1 AND idx > ?2 AND outcome = 'succeeded' ORDER BY idx LIMIT ?3",
                    )?
                    .query_map((seq, after, REVERT_PAGE), |r| {
                        Ok((r.get(0)?, Reverted { case_id: r.get(1)?, version: r.get(2)? }))
                    })?
                    .collect::<rusqlite::Result<_>>()?;
                let Some((last, _)) = page.last() else { break };
                after = *last;
                let page: Vec<Reverted> = page.into_iter().map(|(_, r)| r).collect();
                let ids = serde_json::to_string(&page.iter().map(|r| &r.case_id).collect::<Vec<_>>())
                    .map_err(|e| Error::Other(e.into()))?;
                let history: Vec<Undo> = tx
                    .prepare_cached(
                        "SELECT c.case_id, h.field, h.from_value FROM cases c \
                         JOIN case_history h ON h.case_seq = c.seq \
                         WHERE c.case_id IN (SELECT value FROM json_each(?1)) AND h.job_id = ?2 ORDER BY h.id",
                    )?
                    .query_map((&ids, &job.id), |r| Ok(Undo { case_id: r.get(0)?, field: r.get(1)?, from: r.get(2)? }))?
                    .collect::<rusqlite::Result<_>>()?;
                let existing: HashSet<String> = tx
                    .prepare_cached("SELECT case_id FROM cases WHERE case_id IN (SELECT value FROM json_each(?1))")?
                    .query_map([&ids], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                let items = revert_items(&page, &history, &existing);
                insert_items(tx, new_seq, total, &items)?;
                total += i64::try_from(items.len()).unwrap_or(0);
            }
            tx.prepare_cached("UPDATE jobs SET total = ?2 WHERE seq = ?1")?.execute((new_seq, total))?;
            let (_, created) = load_job(tx, &new.id)?.ok_or(Error::NotFound)?;
            Ok((JobChange::Done(created), Vec::new()))
        })
        .await
    }

    async fn delete_job(&self, id: &str) -> Result<(JobChange, CommitSeq)> {
        self.change_job(id, move |tx, seq, job| {
            if !rules::may_forget(&job) {
                return Ok((JobChange::WrongState(job), Vec::new()));
            }
            forget_job(tx, seq)?;
            Ok((JobChange::Done(job), Vec::new()))
        })
        .await
    }

    async fn purge_jobs(&self, before: Timestamp, limit: u32) -> Result<u64> {
        self.write(move |conn, _| {
            let tx = immediate(conn)?;
            let expired: Vec<i64> = tx
                .prepare_cached(
                    "SELECT seq FROM jobs WHERE finished_at < ?1 ORDER BY finished_at LIMIT 100",
                )?
                .query_map([before.0], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            for seq in &expired {
                forget_job(&tx, *seq)?;
            }
            // Remove the items of forgotten jobs a batch at a time.
            let pending: Option<i64> = tx
                .query_row("SELECT job_seq FROM job_item_purges LIMIT 1", [], |r| {
                    r.get(0)
                })
                .optional()?;
            let mut removed = 0;
            if let Some(job_seq) = pending {
                removed = tx
                    .prepare_cached(
                        "DELETE FROM job_items WHERE job_seq = ?1 AND idx IN \
                         (SELECT idx FROM job_items WHERE job_seq = ?1 ORDER BY idx LIMIT ?2)",
                    )?
                    .execute((job_seq, i64::from(limit)))?;
                if removed == 0 {
                    tx.execute("DELETE FROM job_item_purges WHERE job_seq = ?1", [job_seq])?;
                }
            }
            tx.commit()?;
            Ok(expired.len() as u64 + removed as u64)
        })
        .await
    }

    async fn release_leases(&self, owner_prefix: Option<&str>) -> Result<()> {
        let prefix = owner_prefix.map(|p| format!("{p}%"));
        self.write(move |conn, _| {
            conn.execute(
                "UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL \
                 WHERE state IN ('queued', 'running') AND (?1 IS NULL OR lease_owner LIKE ?1)",
                [&prefix],
            )?;
            // Webhook deliveries a crashed run had claimed are free at once too.
            conn.execute(
                "UPDATE webhook_deliveries SET claimed_by = NULL, claimed_until = NULL \
                 WHERE claimed_by IS NOT NULL AND (?1 IS NULL OR claimed_by LIKE ?1)",
                [&prefix],
            )?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl CallbackStore for SqliteStore {
    async fn due_deliveries(&self, now: Timestamp, limit: u32) -> Result<Vec<Delivery>> {
        self.read(move |conn, _| {
            let mut stmt = conn.prepare_cached(
                "SELECT d.delivery_id, j.job_id, d.url, d.event, d.attempts, d.created_at \
                 FROM callback_deliveries d JOIN jobs j ON j.seq = d.job_seq \
                 WHERE d.state = 'pending' AND d.next_attempt_at <= ?1 ORDER BY d.next_attempt_at LIMIT ?2",
            )?;
            let rows = stmt.query_map((now.0, i64::from(limit)), |r| {
                Ok(Delivery {
                    id: r.get(0)?,
                    job_id: r.get(1)?,
                    url: r.get(2)?,
                    event: r.get(3)?,
                    attempts: r.get(4)?,
                    created_at: Timestamp(r.get(5)?),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn record_attempt(&self, id: &str, a: Attempt, next: Option<Timestamp>) -> Result<()> {
        let id = id.to_owned();
        self.write(move |conn, _| {
            let tx = immediate(conn)?;
            let attempts: Option<u32> = tx
                .prepare_cached(
                    "UPDATE callback_deliveries SET attempts = attempts + 1, next_attempt_at = ?2, \
                     state = CASE WHEN ?3 THEN 'delivered' WHEN ?2 IS NULL THEN 'failed' ELSE 'pending' END \
                     WHERE delivery_id = ?1 RETURNING attempts",
                )?
                .query_row(
                    rusqlite::params![id, next.map(|t| t.0), a.status_code.is_some_and(|s| (200..300).contains(&s))],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(attempt) = attempts else { return Ok(()) };
            tx.prepare_cached(
                "INSERT INTO callback_attempts (delivery_id, attempt, at, status_code, error, duration_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(rusqlite::params![id, attempt, a.at.0, a.status_code, a.error, i64::try_from(a.duration_ms).unwrap_or(0)])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn deliveries(&self, job_id: &str) -> Result<Option<Vec<DeliveryView>>> {
        let job_id = job_id.to_owned();
        self.read(move |conn, _| {
            let Some((seq, _)) = load_job(conn, &job_id)? else {
                return Ok(None);
            };
            Ok(Some(delivery_views(conn, seq)?))
        })
        .await
    }

    async fn redeliver(&self, job_id: &str, now: Timestamp) -> Result<DeliveryView> {
        let job_id = job_id.to_owned();
        self.write(move |conn, _| {
            let tx = immediate(conn)?;
            let Some((seq, _)) = load_job(&tx, &job_id)? else { return Err(Error::NotFound) };
            let n = tx.execute(
                "UPDATE callback_deliveries SET state = 'pending', next_attempt_at = ?2 WHERE job_seq = ?1",
                (seq, now.0),
            )?;
            if n == 0 {
                return Err(Error::NotFound);
            }
            let view = delivery_views(&tx, seq)?.into_iter().next().ok_or(Error::NotFound)?;
            tx.commit()?;
            Ok(view)
        })
        .await
    }
}

/// Deletes a job row and its callbacks now; its items go in batches (`job_item_purges`).
fn forget_job(tx: &rusqlite::Transaction<'_>, seq: i64) -> Result<()> {
    tx.execute(
        "DELETE FROM callback_attempts WHERE delivery_id IN (SELECT delivery_id FROM callback_deliveries WHERE job_seq = ?1)",
        [seq],
    )?;
    tx.execute("DELETE FROM callback_deliveries WHERE job_seq = ?1", [seq])?;
    tx.execute("DELETE FROM jobs WHERE seq = ?1", [seq])?;
    tx.execute(
        "INSERT OR IGNORE INTO job_item_purges (job_seq) VALUES (?1)",
        [seq],
    )?;
    Ok(())
}

fn delivery_views(conn: &rusqlite::Connection, job_seq: i64) -> Result<Vec<DeliveryView>> {
    let mut stmt = conn.prepare_cached(
        "SELECT delivery_id, url, event, state, next_attempt_at FROM callback_deliveries WHERE job_seq = ?1",
    )?;
    let rows: Vec<DeliveryRow> = stmt
        .query_map([job_seq], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut att = conn.prepare_cached(
        "SELECT at, status_code, error, duration_ms FROM callback_attempts WHERE delivery_id = ?1 ORDER BY id",
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let attempts = att
            .query_map([&row.0], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        out.push(DeliveryView::from_rows(row, attempts));
    }
    Ok(out)
}
