//! PostgreSQL: how a write records its changes in the feed (the transactional outbox),
//! under the commit counter's row lock that orders them. A change that shows its case
//! copies the case's row as the transaction left it: nothing is rendered on the writer's
//! path.

use sqlx::AssertSqlSafe;
use std::sync::LazyLock;

use super::{Tx, nodes};
use crate::store::decode::CHANGE_CASE_COLUMNS;
use crate::store::{Change, CommitSeq, Error, Render, Result, Signal};

/// [`CHANGE_CASE_COLUMNS`] read from the case row `x` (the copy a change keeps).
fn case_copy() -> String {
    CHANGE_CASE_COLUMNS
        .split(',')
        .map(|c| format!("x.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The statement of [`record_changes`].
static RECORD_CHANGES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO changes (position, kind, case_id, at, actor, version, job_id, task_id, diffs, \
         body, comment_id, {CHANGE_CASE_COLUMNS}) \
         SELECT $1 + u.o - 1, u.k, u.c, u.a, u.actor, u.v, u.j, u.t, u.d, u.b, u.m, {} \
         FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[], $6::bigint[], $7::text[], \
         $8::text[], $9::text[], $10::text[], $11::bool[], $12::text[]) \
         WITH ORDINALITY AS u(k, c, a, actor, v, j, t, d, b, s, m, o) \
         LEFT JOIN cases x ON u.s AND x.case_id = u.c \
         WHERE NOT u.s OR x.seq IS NOT NULL",
        case_copy()
    )
});

/// Stores `changes` at positions `first`, `first + 1`, … (`first` is this transaction's
/// own, from [`next_commit`]: the counter's row lock, held to the commit, keeps every
/// other writer from taking a position until this one is visible) and moves the counter
/// to the last of them, which it returns (`first` when there is none). Every node hears
/// that the feed moved.
pub(super) async fn record_changes(
    tx: &mut Tx,
    first: CommitSeq,
    changes: &[Change],
    render: &Render,
) -> Result<CommitSeq> {
    record_more(tx, first, 0, changes, render).await
}

/// [`record_changes`] for a transaction that already stored `stored` changes at `first`,
/// `first + 1`, … (a job chunk's `case.updated` changes, written with its cases):
/// `changes` go after them, and the counter moves to the last position of all.
pub(super) async fn record_more(
    tx: &mut Tx,
    first: CommitSeq,
    stored: i64,
    changes: &[Change],
    render: &Render,
) -> Result<CommitSeq> {
    if stored == 0 && changes.is_empty() {
        return Ok(first);
    }
    let from = first.0 + stored;
    if !changes.is_empty() {
        insert_changes(tx, CommitSeq(from), changes, render).await?;
    }
    let last = from + i64::try_from(changes.len()).unwrap_or(i64::MAX) - 1;
    if last > first.0 {
        sqlx::query("UPDATE counters SET value = $1 WHERE name = 'commit'")
            .bind(last)
            .execute(&mut **tx)
            .await?;
    }
    nodes::notify(tx, &Signal::Changes).await?;
    Ok(CommitSeq(last))
}

/// Inserts `changes` at positions `first`, `first + 1`, ….
async fn insert_changes(
    tx: &mut Tx,
    first: CommitSeq,
    changes: &[Change],
    render: &Render,
) -> Result<()> {
    // A change that shows its case copies the case's row as this transaction left it
    // (nothing is rendered while the counter's row lock is held; the feed renders a
    // change when it reads it).
    let v = |f: fn(&Change) -> Option<String>| changes.iter().map(f).collect::<Vec<_>>();
    let inserted = sqlx::query(AssertSqlSafe(RECORD_CHANGES.as_str()))
        .bind(first.0)
        .bind(changes.iter().map(|c| c.kind.as_str()).collect::<Vec<_>>())
        .bind(v(|c| c.case_id.as_ref().map(ToString::to_string)))
        .bind(changes.iter().map(|c| c.at.0).collect::<Vec<_>>())
        .bind(changes.iter().map(|c| c.actor.as_str()).collect::<Vec<_>>())
        .bind(
            changes
                .iter()
                .map(|c| c.version.map(|v| i64::try_from(v).unwrap_or(i64::MAX)))
                .collect::<Vec<_>>(),
        )
        .bind(v(|c| c.job_id.clone()))
        .bind(v(|c| c.task_id.as_ref().map(ToString::to_string)))
        .bind(v(Change::diffs_json))
        .bind(
            changes
                .iter()
                .map(|c| c.stored_body(render))
                .collect::<Vec<_>>(),
        )
        .bind(changes.iter().map(Change::shows_case).collect::<Vec<_>>())
        .bind(v(|c| c.comment_id.clone()))
        .execute(&mut **tx)
        .await?
        .rows_affected();
    if inserted != changes.len() as u64 {
        return Err(Error::Other(anyhow::anyhow!(
            "{} of {} changes at {} have no case row to show",
            changes.len() as u64 - inserted,
            changes.len(),
            first.0
        )));
    }
    Ok(())
}

/// The statement of [`commit_case_write`]: `$1` the case's `seq`, `$2`-`$9` the change.
/// Its payloads are [`Signal::Invalidate`]'s (a synchronous write of one case) and
/// [`Signal::Changes`]'s encodings, made in SQL because the commit is known only there.
static COMMIT_CASE_WRITE: LazyLock<String> = LazyLock::new(|| {
    let copy = case_copy();
    let channel = nodes::CHANNEL_EXPR;
    format!(
        "WITH c AS (UPDATE counters SET value = value + 1 WHERE name = 'commit' RETURNING value), \
         s AS (UPDATE cases SET commit_seq = (SELECT value FROM c) WHERE seq = $1), \
         i AS (INSERT INTO changes (position, kind, case_id, at, actor, version, job_id, task_id, \
               diffs, comment_id, {CHANGE_CASE_COLUMNS}) \
               SELECT c.value, $2, x.case_id, $3, $4, $5, $6, $7, $8, $9, {copy} \
               FROM c, cases x WHERE x.seq = $1 RETURNING 1), \
         n AS (SELECT pg_notify({channel}, 'i|' || c.value || '|w|' || x.case_id), \
                      pg_notify({channel}, 'f') \
               FROM c, cases x WHERE x.seq = $1) \
         SELECT c.value, (SELECT count(*) FROM i), (SELECT count(*) FROM n) FROM c"
    )
});

/// Ends a single-case write in one statement, its last before COMMIT: takes the
/// transaction's commit position, stamps the case row `seq` with it, records `change`
/// (which shows the case: its row, as this transaction left it, is copied), and tells
/// every node (the case's invalidation, and that the feed moved). The commit counter's
/// row lock, which orders commits and the feed, is so held only for this statement and
/// the commit.
pub(super) async fn commit_case_write(tx: &mut Tx, seq: i64, change: &Change) -> Result<CommitSeq> {
    let (commit, recorded, _): (i64, i64, i64) =
        sqlx::query_as(AssertSqlSafe(COMMIT_CASE_WRITE.as_str()))
            .bind(seq)
            .bind(change.kind.as_str())
            .bind(change.at.0)
            .bind(change.actor.as_str())
            .bind(change.version.map(|v| i64::try_from(v).unwrap_or(i64::MAX)))
            .bind(change.job_id.as_deref())
            .bind(change.task_id.as_ref().map(ToString::to_string))
            .bind(change.diffs_json())
            .bind(change.comment_id.as_deref())
            .fetch_one(&mut **tx)
            .await?;
    if recorded != 1 {
        return Err(Error::Other(anyhow::anyhow!(
            "the change at {commit} has no case row to show"
        )));
    }
    Ok(CommitSeq(commit))
}
