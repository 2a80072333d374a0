//! Row mapping between SQLite and domain types.

use std::sync::LazyLock;

use rusqlite::{Row, Transaction};

use crate::domain::{Case, HistoryRecord, Task, TaskId};
use crate::store::{Change, CommitSeq, Error, Render, Result};

use crate::store::decode::{self, CHANGE_CASE_COLUMNS, Columns};
pub use crate::store::decode::{CASE_COLUMNS, TASK_COLUMNS};

impl Columns for Row<'_> {
    type Error = rusqlite::Error;
    fn int(&self, i: usize) -> rusqlite::Result<i64> {
        self.get(i)
    }
    fn opt_int(&self, i: usize) -> rusqlite::Result<Option<i64>> {
        self.get(i)
    }
    fn text(&self, i: usize) -> rusqlite::Result<String> {
        self.get(i)
    }
    fn opt_text(&self, i: usize) -> rusqlite::Result<Option<String>> {
        self.get(i)
    }
    fn flag(&self, i: usize) -> rusqlite::Result<bool> {
        self.get(i)
    }
    fn unreadable(&self, i: usize, what: &str, why: String) -> rusqlite::Error {
        let msg = format!("unreadable {what} in the database: {why}");
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, msg.into())
    }
}

/// Reads a case row selected with [`CASE_COLUMNS`]; returns its `seq` too.
pub fn case_from_row(r: &Row<'_>) -> rusqlite::Result<(i64, Case)> {
    decode::case(r)
}

pub fn task_from_row(r: &Row<'_>) -> rusqlite::Result<(i64, Task)> {
    decode::task(r)
}

pub fn history_from_row(r: &Row<'_>) -> rusqlite::Result<(i64, HistoryRecord)> {
    decode::history(r)
}

pub fn json_text<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// Advances and returns the commit sequence; call once per write transaction.
pub fn next_commit(tx: &Transaction<'_>) -> Result<CommitSeq> {
    let v: i64 = tx
        .prepare_cached(
            "UPDATE counters SET value = value + 1 WHERE name = 'commit' RETURNING value",
        )?
        .query_row([], |r| r.get(0))?;
    Ok(CommitSeq(v))
}

/// Records a change with the case after it, copied from its row (`?11`, its `seq`).
static RECORD_WITH_CASE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO changes (position, kind, case_id, at, actor, version, job_id, task_id, \
         diffs, body, comment_id, {CHANGE_CASE_COLUMNS}) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, {CHANGE_CASE_COLUMNS} \
         FROM cases WHERE seq = ?12 AND case_id = ?3"
    )
});

/// A change to record, and how it keeps the case it shows.
pub type Logged = (Change, Shows);

/// How a recorded change keeps the case after it (when it shows one).
#[derive(Debug, Clone, Copy)]
pub enum Shows {
    /// It keeps none (a deletion, a job's event).
    Nothing,
    /// A copy of the case's row (by its `seq`) as the transaction leaves it.
    Row(i64),
    /// No copy: the history rows it wrote (a bulk job's update; see [`super::thin`]).
    Thin(crate::store::thin::Thin),
}

/// Stores `changes` at positions `first`, `first + 1`, … (`first` is this transaction's
/// own, from [`next_commit`], the only one it took) and moves the commit counter to
/// the last of them, which it returns (`first` when there is none). A change that shows
/// its case copies the case's row (by its `seq`) as this transaction left it, or is
/// thin: the one writer renders nothing (the feed renders a change when it reads it).
pub fn record_changes(
    tx: &Transaction<'_>,
    first: CommitSeq,
    changes: &[Logged],
    render: &Render,
) -> Result<CommitSeq> {
    let mut last = first.0;
    let mut with_case = tx.prepare_cached(&RECORD_WITH_CASE)?;
    let mut plain = tx.prepare_cached(
        "INSERT INTO changes (position, kind, case_id, at, actor, version, job_id, task_id, \
         diffs, body, comment_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    for (i, (c, seq)) in changes.iter().enumerate() {
        last = first.0 + i64::try_from(i).unwrap_or(i64::MAX);
        let head: [&dyn rusqlite::ToSql; 11] = [
            &last,
            &c.kind.as_str(),
            &c.case_id.as_ref().map(|id| id.as_str()),
            &c.at.0,
            &c.actor,
            &c.version.map(|v| i64::try_from(v).unwrap_or(i64::MAX)),
            &c.job_id,
            &c.task_id.as_ref().map(|t| t.as_str()),
            &c.diffs_json(),
            &c.stored_body(render),
            &c.comment_id,
        ];
        let n = match (c.shows_case(), seq) {
            (true, Shows::Row(seq)) => with_case.execute(rusqlite::params_from_iter(
                head.into_iter().chain([seq as &dyn rusqlite::ToSql]),
            ))?,
            (true, Shows::Thin(t)) => super::thin::record(tx, last, c, t)?,
            (true, Shows::Nothing) => 0,
            (false, _) => plain.execute(head.as_slice())?,
        };
        if n != 1 {
            return Err(Error::Other(anyhow::anyhow!(
                "the change at {last} has no case row to show"
            )));
        }
    }
    if last > first.0 {
        tx.prepare_cached("UPDATE counters SET value = ?1 WHERE name = 'commit'")?
            .execute([last])?;
    }
    Ok(CommitSeq(last))
}

pub fn counter(conn: &rusqlite::Connection, name: &str) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT value FROM counters WHERE name = ?1")?
        .query_row([name], |r| r.get(0))?)
}

/// Raises a counter to at least `value`.
pub fn raise_counter(tx: &Transaction<'_>, name: &str, value: i64) -> Result<()> {
    tx.prepare_cached("UPDATE counters SET value = max(value, ?2) WHERE name = ?1")?
        .execute((name, value))?;
    Ok(())
}

/// Inserts a case row and its tag index; returns its `seq`.
pub fn insert_case(tx: &Transaction<'_>, c: &Case, commit: CommitSeq) -> Result<i64> {
    let seq: i64 = tx
        .prepare_cached(
            "INSERT INTO cases (case_id, title, description, status, status_reason, priority, \
             assignee, tags, fields, open_tasks, version, created_at, updated_at, commit_seq, external_id) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) RETURNING seq",
        )?
        .query_row(
            rusqlite::params![
                c.id.as_str(),
                c.title,
                c.description,
                c.status.as_str(),
                c.status_reason,
                c.priority.as_str(),
                c.assignee,
                json_text(&c.tags),
                json_text(&c.fields),
                c.open_tasks,
                i64::try_from(c.version).unwrap_or(i64::MAX),
                c.created_at.0,
                c.updated_at.0,
                commit.0,
                c.external_id,
            ],
            |r| r.get(0),
        )?;
    write_tags(tx, seq, &c.tags, false)?;
    Ok(seq)
}

/// Writes the tag index of a case, replacing what was there when `replace`.
pub fn write_tags(tx: &Transaction<'_>, seq: i64, tags: &[String], replace: bool) -> Result<()> {
    if replace {
        tx.prepare_cached("DELETE FROM case_tags WHERE case_seq = ?1")?
            .execute([seq])?;
    }
    let mut ins =
        tx.prepare_cached("INSERT OR IGNORE INTO case_tags (tag, case_seq) VALUES (?1, ?2)")?;
    for t in tags {
        ins.execute((t, seq))?;
    }
    Ok(())
}

/// The id for the next task (from the `task_number` counter).
pub fn next_task_id(tx: &Transaction<'_>) -> Result<TaskId> {
    let n: i64 = tx
        .prepare_cached(
            "UPDATE counters SET value = value + 1 WHERE name = 'task_number' RETURNING value",
        )?
        .query_row([], |r| r.get(0))?;
    Ok(TaskId::generated(u64::try_from(n).unwrap_or(0)))
}

/// Inserts task `t` (as [`Task::opened`] makes it) into the case of `case_seq`.
pub fn insert_task(tx: &Transaction<'_>, case_seq: i64, t: &Task) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO tasks (task_id, case_seq, title, status, assignee, created_at, updated_at) \
         VALUES (?1, ?2, ?3, 'open', ?4, ?5, ?5)",
    )?
    .execute((
        t.id.as_str(),
        case_seq,
        &t.title,
        &t.assignee,
        t.created_at.0,
    ))?;
    Ok(())
}
