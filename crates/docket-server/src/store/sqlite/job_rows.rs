//! SQLite: a job's rows as the job code reads and writes them: loading one, storing a
//! new one with its items, ending one (its callback and its feed event).

use rusqlite::{OptionalExtension, Row, Transaction};

use super::rows::{Logged, Shows, next_commit, record_changes};
use crate::domain::feed::{Change, JOB_ACTOR, Render};
use crate::domain::{Job, JobState, Timestamp, random_hex};
use crate::store::case_list::{Dialect, Param, matches_sql};
use crate::store::sql::{JOB_COLUMNS, JobRow};
use crate::store::{ByFilter, ChunkResult, CommitSeq, NewJob, Result};

/// A job row read by [`JOB_COLUMNS`], still to be decoded ([`JobRow::decode`]).
pub(super) fn job_row(r: &Row<'_>) -> rusqlite::Result<JobRow> {
    crate::store::decode::job_row(r)
}

/// Loads a job by id, with its queue position when queued.
pub(super) fn load_job(conn: &rusqlite::Connection, id: &str) -> Result<Option<(i64, Job)>> {
    let found = conn
        .prepare_cached(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = ?1"))?
        .query_row([id], job_row)
        .optional()?;
    let Some((seq, mut job)) = found.map(JobRow::decode).transpose()? else {
        return Ok(None);
    };
    if job.state == JobState::Queued {
        let ahead: i64 = conn
            .prepare_cached("SELECT count(*) FROM jobs WHERE state = 'queued' AND seq <= ?1")?
            .query_row([seq], |r| r.get(0))?;
        job.queue_position = Some(u64::try_from(ahead).unwrap_or(1));
    }
    Ok(Some((seq, job)))
}

pub(super) fn insert_job(tx: &Transaction<'_>, job: &NewJob) -> Result<i64> {
    let (key, hash) = match &job.idempotency {
        Some((k, h)) => (Some(k.as_str()), Some(h.as_str())),
        None => (None, None),
    };
    let seq: i64 = tx
        .prepare_cached(
            "INSERT INTO jobs (job_id, state, total, atomic, callback_url, parent_job_id, actor, \
             idempotency_key, request_hash, created_at, dry_run, revert_of, template, kind, upsert_by) \
             VALUES (?1, 'queued', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) RETURNING seq",
        )?
        .query_row(
            rusqlite::params![
                job.id,
                i64::try_from(job.items.len()).unwrap_or(i64::MAX),
                job.atomic,
                job.callback_url,
                job.parent_id,
                job.actor,
                key,
                hash,
                job.created_at.0,
                job.dry_run,
                job.revert_of,
                job.template,
                job.kind.as_str(),
                job.upsert_by
            ],
            |r| r.get(0),
        )?;
    // In batches, so a spooled job's items are never all in memory.
    job.items
        .in_batches(10_000, |first, batch| insert_items(tx, seq, first, batch))?;
    Ok(seq)
}

/// Stores `items` as the items of job `seq`, indexed from `first`.
pub(super) fn insert_items(
    tx: &Transaction<'_>,
    seq: i64,
    first: i64,
    items: &[(String, String)],
) -> Result<()> {
    let mut ins = tx.prepare_cached(
        "INSERT INTO job_items (job_seq, idx, case_id, item) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (i, (case_id, item)) in (first..).zip(items) {
        ins.execute((seq, i, case_id, item))?;
    }
    Ok(())
}

/// Stores the cases matching `by` as the items of job `seq` (each applying the job's
/// template), in creation order, inside the store: at most `by.max + 1` rows, so a
/// match over the limit costs no more than the limit. Sets the job's total; the number.
pub(super) fn insert_matches(tx: &Transaction<'_>, seq: i64, by: &ByFilter) -> Result<u64> {
    let q = matches_sql(by, Dialect::Sqlite)?;
    let job = Param::Int(seq);
    let params = q
        .params
        .iter()
        .chain(std::iter::once(&job))
        .map(|p| match p {
            Param::Int(i) => rusqlite::types::Value::Integer(*i),
            Param::Text(t) => rusqlite::types::Value::Text(t.clone()),
        });
    let n = tx.execute(&q.sql, rusqlite::params_from_iter(params))?;
    tx.prepare_cached("UPDATE jobs SET total = ?2 WHERE seq = ?1")?
        .execute((seq, i64::try_from(n).unwrap_or(i64::MAX)))?;
    Ok(n as u64)
}

/// Moves a job to a final state and queues its callback, in the caller's transaction.
/// Its consistency token becomes the store's current commit: a read at it sees every
/// change the job made, and every change before the job ended.
pub(super) fn end_job(
    tx: &Transaction<'_>,
    seq: i64,
    state: JobState,
    now: Timestamp,
) -> Result<()> {
    let url: Option<String> = tx
        .prepare_cached(
            "UPDATE jobs SET state = ?2, finished_at = ?3, lease_owner = NULL, lease_expires_at = NULL, \
             last_commit_seq = (SELECT value FROM counters WHERE name = 'commit') \
             WHERE seq = ?1 RETURNING callback_url",
        )?
        .query_row((seq, state.as_str(), now.0), |r| r.get(0))?;
    if let Some(url) = url {
        tx.prepare_cached(
            "INSERT INTO callback_deliveries (delivery_id, job_seq, url, event, state, next_attempt_at, created_at) \
             VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?5)",
        )?
        .execute((format!("dlv-{}", random_hex(10)), seq, url, format!("job.{state}"), now.0))?;
    }
    Ok(())
}

/// Commits `tx`, in which the job ended, with the changes it made (at positions from
/// `commit`, the transaction's own if it took one) and the job's end event last; the
/// job as it ended.
pub(super) fn ended(
    tx: Transaction<'_>,
    job_id: &str,
    commit: Option<CommitSeq>,
    mut changes: Vec<Logged>,
    render: &Render,
) -> Result<ChunkResult> {
    let (_, job) = load_job(&tx, job_id)?.ok_or(crate::store::Error::NotFound)?;
    changes.extend(Change::job_ended(&job, JOB_ACTOR).map(|c| (c, Shows::Nothing)));
    let first = match commit {
        Some(c) => c,
        // Nothing to record (a dry run's end): no position in the commit order.
        None if changes.is_empty() => CommitSeq(super::rows::counter(&tx, "commit")?),
        None => next_commit(&tx)?,
    };
    record_changes(&tx, first, &changes, render)?;
    tx.commit()?;
    Ok(ChunkResult::Ended(job))
}
