//! Row mapping between SQLite and domain types.

use rusqlite::{Row, Transaction};
use serde_json::{Map, Value};

use crate::domain::{
    Case, CaseId, HistoryRecord, Priority, Status, Task, TaskId, TaskStatus, Timestamp,
};
use crate::store::{CommitSeq, Result};

/// Columns of `cases` in the order [`case_from_row`] reads them (after `seq`).
pub const CASE_COLUMNS: &str = "seq, case_id, title, description, status, status_reason, priority, \
     assignee, tags, fields, open_tasks, version, created_at, updated_at";

pub const TASK_COLUMNS: &str =
    "t.seq, t.task_id, c.case_id, t.title, t.status, t.assignee, t.created_at, t.updated_at";

/// Reads a case row selected with [`CASE_COLUMNS`]; returns its `seq` too.
pub fn case_from_row(r: &Row<'_>) -> rusqlite::Result<(i64, Case)> {
    let tags: String = r.get(8)?;
    let fields: String = r.get(9)?;
    let priority: String = r.get(6)?;
    let case = Case {
        id: CaseId::parse(&r.get::<_, String>(1)?).map_err(|e| conversion(1, e))?,
        title: r.get(2)?,
        description: r.get(3)?,
        status: Status::from_stored(r.get(4)?),
        status_reason: r.get(5)?,
        priority: Priority::parse(&priority).map_err(|e| conversion(6, e))?,
        assignee: r.get(7)?,
        tags: serde_json::from_str(&tags).map_err(|e| conversion(8, e.to_string()))?,
        fields: serde_json::from_str::<Map<String, Value>>(&fields)
            .map_err(|e| conversion(9, e.to_string()))?,
        open_tasks: r.get(10)?,
        version: u64::try_from(r.get::<_, i64>(11)?).unwrap_or(0),
        created_at: Timestamp(r.get(12)?),
        updated_at: Timestamp(r.get(13)?),
    };
    Ok((r.get(0)?, case))
}

pub fn task_from_row(r: &Row<'_>) -> rusqlite::Result<(i64, Task)> {
    let status: String = r.get(4)?;
    let task = Task {
        id: TaskId::parse(&r.get::<_, String>(1)?).map_err(|e| conversion(1, e))?,
        case_id: CaseId::parse(&r.get::<_, String>(2)?).map_err(|e| conversion(2, e))?,
        title: r.get(3)?,
        status: TaskStatus::parse(&status).map_err(|e| conversion(4, e))?,
        assignee: r.get(5)?,
        created_at: Timestamp(r.get(6)?),
        updated_at: Timestamp(r.get(7)?),
    };
    Ok((r.get(0)?, task))
}

pub fn history_from_row(r: &Row<'_>) -> rusqlite::Result<(i64, HistoryRecord)> {
    let from: String = r.get(4)?;
    let to: String = r.get(5)?;
    let h = HistoryRecord {
        at: Timestamp(r.get(1)?),
        actor: r.get(2)?,
        field: r.get(3)?,
        from: serde_json::from_str(&from).unwrap_or(Value::Null),
        to: serde_json::from_str(&to).unwrap_or(Value::Null),
        job_id: r.get(6)?,
    };
    Ok((r.get(0)?, h))
}

fn conversion(col: usize, msg: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(col, rusqlite::types::Type::Text, msg.into())
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
             assignee, tags, fields, open_tasks, version, created_at, updated_at, commit_seq) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) RETURNING seq",
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

/// Inserts a task with the next generated id.
pub fn insert_task(
    tx: &Transaction<'_>,
    case_seq: i64,
    case_id: &CaseId,
    title: &str,
    assignee: Option<&str>,
    at: Timestamp,
) -> Result<Task> {
    let n: i64 = tx
        .prepare_cached(
            "UPDATE counters SET value = value + 1 WHERE name = 'task_number' RETURNING value",
        )?
        .query_row([], |r| r.get(0))?;
    let id = TaskId::generated(u64::try_from(n).unwrap_or(0));
    tx.prepare_cached(
        "INSERT INTO tasks (task_id, case_seq, title, status, assignee, created_at, updated_at) \
         VALUES (?1, ?2, ?3, 'open', ?4, ?5, ?5)",
    )?
    .execute((id.as_str(), case_seq, title, assignee, at.0))?;
    Ok(Task {
        id,
        case_id: case_id.clone(),
        title: title.to_owned(),
        status: TaskStatus::Open,
        assignee: assignee.map(str::to_owned),
        created_at: at,
        updated_at: at,
    })
}
