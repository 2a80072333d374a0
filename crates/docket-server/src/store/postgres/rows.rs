//! Row mapping between PostgreSQL and domain types.

pub use crate::store::sql::JOB_COLUMNS;
use crate::store::sql::JobRow;
use serde_json::{Map, Value};
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::Tx;
use crate::domain::{
    Case, CaseId, HistoryRecord, Job, Priority, Status, Task, TaskId, TaskStatus, Timestamp,
};
use crate::store::{CommitSeq, Error, Result};

pub const CASE_COLUMNS: &str = "seq, case_id, title, description, status, status_reason, priority, \
     assignee, tags, fields, open_tasks, version, created_at, updated_at";

pub const TASK_COLUMNS: &str =
    "t.seq, t.task_id, c.case_id, t.title, t.status, t.assignee, t.created_at, t.updated_at";

fn bad(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Other(anyhow::anyhow!("unreadable {what} in the database: {e}"))
}

pub fn case_from_row(r: &PgRow) -> Result<(i64, Case)> {
    let id: String = r.try_get(1)?;
    let priority: String = r.try_get(6)?;
    let tags: String = r.try_get(8)?;
    let fields: String = r.try_get(9)?;
    let case = Case {
        id: CaseId::parse(&id).map_err(|e| bad("case id", e))?,
        title: r.try_get(2)?,
        description: r.try_get(3)?,
        status: Status::from_stored(r.try_get(4)?),
        status_reason: r.try_get(5)?,
        priority: Priority::parse(&priority).map_err(|e| bad("priority", e))?,
        assignee: r.try_get(7)?,
        tags: serde_json::from_str(&tags).map_err(|e| bad("tags", e))?,
        fields: serde_json::from_str::<Map<String, Value>>(&fields)
            .map_err(|e| bad("fields", e))?,
        open_tasks: u32::try_from(r.try_get::<i32, _>(10)?).unwrap_or(0),
        version: u64::try_from(r.try_get::<i64, _>(11)?).unwrap_or(0),
        created_at: Timestamp(r.try_get(12)?),
        updated_at: Timestamp(r.try_get(13)?),
    };
    Ok((r.try_get(0)?, case))
}

pub fn task_from_row(r: &PgRow) -> Result<(i64, Task)> {
    let id: String = r.try_get(1)?;
    let case_id: String = r.try_get(2)?;
    let status: String = r.try_get(4)?;
    let task = Task {
        id: TaskId::parse(&id).map_err(|e| bad("task id", e))?,
        case_id: CaseId::parse(&case_id).map_err(|e| bad("case id", e))?,
        title: r.try_get(3)?,
        status: TaskStatus::parse(&status).map_err(|e| bad("task status", e))?,
        assignee: r.try_get(5)?,
        created_at: Timestamp(r.try_get(6)?),
        updated_at: Timestamp(r.try_get(7)?),
    };
    Ok((r.try_get(0)?, task))
}

pub fn history_from_row(r: &PgRow) -> Result<(i64, HistoryRecord)> {
    let from: String = r.try_get(4)?;
    let to: String = r.try_get(5)?;
    let h = HistoryRecord {
        at: Timestamp(r.try_get(1)?),
        actor: r.try_get(2)?,
        field: r.try_get(3)?,
        from: serde_json::from_str(&from).unwrap_or(Value::Null),
        to: serde_json::from_str(&to).unwrap_or(Value::Null),
        job_id: r.try_get(6)?,
    };
    Ok((r.try_get(0)?, h))
}

pub fn job_from_row(r: &PgRow) -> Result<(i64, Job)> {
    JobRow {
        seq: r.try_get(0)?,
        job_id: r.try_get(1)?,
        state: r.try_get(2)?,
        counts: [r.try_get(3)?, r.try_get(4)?, r.try_get(5)?, r.try_get(6)?],
        atomic: r.try_get(7)?,
        callback_url: r.try_get(8)?,
        parent_id: r.try_get(9)?,
        created_at: r.try_get(10)?,
        started_at: r.try_get(11)?,
        finished_at: r.try_get(12)?,
        last_commit: r.try_get(13)?,
    }
    .decode()
}

pub fn json_text<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

pub async fn raise_counter(tx: &mut Tx, name: &str, value: i64) -> Result<()> {
    sqlx::query("UPDATE counters SET value = GREATEST(value, $2) WHERE name = $1")
        .bind(name)
        .bind(value)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Inserts a case row and its tag index; returns its `seq`.
pub async fn insert_case(tx: &mut Tx, c: &Case, commit: CommitSeq) -> Result<i64> {
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO cases (case_id, title, description, status, status_reason, priority, assignee, tags, fields, \
         open_tasks, version, created_at, updated_at, commit_seq) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING seq",
    )
    .bind(c.id.as_str())
    .bind(&c.title)
    .bind(&c.description)
    .bind(c.status.as_str())
    .bind(&c.status_reason)
    .bind(c.priority.as_str())
    .bind(&c.assignee)
    .bind(json_text(&c.tags))
    .bind(json_text(&c.fields))
    .bind(i32::try_from(c.open_tasks).unwrap_or(i32::MAX))
    .bind(i64::try_from(c.version).unwrap_or(i64::MAX))
    .bind(c.created_at.0)
    .bind(c.updated_at.0)
    .bind(commit.0)
    .fetch_one(&mut **tx)
    .await?;
    write_tags(tx, seq, &c.tags, false).await?;
    Ok(seq)
}

pub async fn write_tags(tx: &mut Tx, seq: i64, tags: &[String], replace: bool) -> Result<()> {
    if replace {
        sqlx::query("DELETE FROM case_tags WHERE case_seq = $1")
            .bind(seq)
            .execute(&mut **tx)
            .await?;
    }
    if !tags.is_empty() {
        sqlx::query("INSERT INTO case_tags (tag, case_seq) SELECT t, $2 FROM unnest($1::text[]) AS t ON CONFLICT DO NOTHING")
            .bind(tags)
            .bind(seq)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Inserts a task with the next generated id.
pub async fn insert_task(
    tx: &mut Tx,
    case_seq: i64,
    case_id: &CaseId,
    title: &str,
    assignee: Option<&str>,
    at: Timestamp,
) -> Result<Task> {
    let n: i64 = sqlx::query_scalar(
        "UPDATE counters SET value = value + 1 WHERE name = 'task_number' RETURNING value",
    )
    .fetch_one(&mut **tx)
    .await?;
    let id = TaskId::generated(u64::try_from(n).unwrap_or(0));
    sqlx::query(
        "INSERT INTO tasks (task_id, case_seq, title, status, assignee, created_at, updated_at) \
         VALUES ($1, $2, $3, 'open', $4, $5, $5)",
    )
    .bind(id.as_str())
    .bind(case_seq)
    .bind(title)
    .bind(assignee)
    .bind(at.0)
    .execute(&mut **tx)
    .await?;
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
