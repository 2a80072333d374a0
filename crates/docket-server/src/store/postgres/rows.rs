//! Row mapping between PostgreSQL and domain types.

pub use crate::store::sql::JOB_COLUMNS;
use sqlx::postgres::PgRow;
use sqlx::{Column as _, Row, TypeInfo as _};

use super::Tx;
use crate::domain::{Case, HistoryRecord, Job, Task, TaskId};
use crate::store::{CommitSeq, Error, Result};

use crate::store::decode::{self, Columns};
pub use crate::store::decode::{CASE_COLUMNS, TASK_COLUMNS};

impl Columns for PgRow {
    type Error = Error;
    fn int(&self, i: usize) -> Result<i64> {
        // `open_tasks` and the like are `integer` columns; sqlx decodes by exact type.
        match self.column(i).type_info().name() {
            "INT4" => Ok(i64::from(self.try_get::<i32, _>(i)?)),
            "INT2" => Ok(i64::from(self.try_get::<i16, _>(i)?)),
            _ => Ok(self.try_get(i)?),
        }
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        match self.column(i).type_info().name() {
            "INT4" => Ok(self.try_get::<Option<i32>, _>(i)?.map(i64::from)),
            "INT2" => Ok(self.try_get::<Option<i16>, _>(i)?.map(i64::from)),
            _ => Ok(self.try_get(i)?),
        }
    }
    fn text(&self, i: usize) -> Result<String> {
        Ok(self.try_get(i)?)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>> {
        Ok(self.try_get(i)?)
    }
    fn flag(&self, i: usize) -> Result<bool> {
        Ok(self.try_get(i)?)
    }
    fn unreadable(&self, _: usize, what: &str, why: String) -> Error {
        Error::Other(anyhow::anyhow!("unreadable {what} in the database: {why}"))
    }
}

pub fn case_from_row(r: &PgRow) -> Result<(i64, Case)> {
    decode::case(r)
}

pub fn task_from_row(r: &PgRow) -> Result<(i64, Task)> {
    decode::task(r)
}

pub fn history_from_row(r: &PgRow) -> Result<(i64, HistoryRecord)> {
    decode::history(r)
}

/// Reads a webhook row selected with `WEBHOOK_COLUMNS`: its `seq`, itself, its cursor.
pub fn webhook_row(r: &PgRow) -> Result<(i64, crate::domain::webhook::Webhook, i64)> {
    crate::store::webhook_rows::webhook(r)
}

pub fn job_from_row(r: &PgRow) -> Result<(i64, Job)> {
    decode::job(r)
}

/// A query with PostgreSQL arguments, as `sqlx::query` makes it.
pub type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// Binds case `c`'s columns `title` to `version`, in that order: the insert and the
/// update of a case row take them alike.
pub fn bind_case<'q>(q: PgQuery<'q>, c: &'q Case) -> PgQuery<'q> {
    q.bind(&c.title)
        .bind(&c.description)
        .bind(c.status.as_str())
        .bind(&c.status_reason)
        .bind(c.priority.as_str())
        .bind(&c.assignee)
        .bind(json_text(&c.tags))
        .bind(json_text(&c.fields))
        .bind(i32::try_from(c.open_tasks).unwrap_or(i32::MAX))
        .bind(i64::try_from(c.version).unwrap_or(i64::MAX))
}

/// Binds the text columns `title` to `fields` of `cases`, one array each (for `unnest`),
/// in that order: a chunk's update and an import's insert take them alike.
pub fn bind_case_texts<'q, 'c, I>(q: PgQuery<'q>, cases: I) -> PgQuery<'q>
where
    I: Iterator<Item = &'c Case> + Clone,
{
    let col = |f: &dyn Fn(&Case) -> Option<String>| cases.clone().map(f).collect::<Vec<_>>();
    q.bind(col(&|c| Some(c.title.clone())))
        .bind(col(&|c| Some(c.description.clone())))
        .bind(col(&|c| Some(c.status.to_string())))
        .bind(col(&|c| c.status_reason.clone()))
        .bind(col(&|c| Some(c.priority.to_string())))
        .bind(col(&|c| c.assignee.clone()))
        .bind(col(&|c| Some(json_text(&c.tags))))
        .bind(col(&|c| Some(json_text(&c.fields))))
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
    let q = sqlx::query(
        "INSERT INTO cases (case_id, title, description, status, status_reason, priority, assignee, tags, fields, \
         open_tasks, version, created_at, updated_at, commit_seq, external_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING seq",
    )
    .bind(c.id.as_str());
    let seq: i64 = bind_case(q, c)
        .bind(c.created_at.0)
        .bind(c.updated_at.0)
        .bind(commit.0)
        .bind(&c.external_id)
        .fetch_one(&mut **tx)
        .await?
        .try_get(0)?;
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

/// The id for the next task (from the `task_number` counter).
pub async fn next_task_id(tx: &mut Tx) -> Result<TaskId> {
    let n: i64 = sqlx::query_scalar(
        "UPDATE counters SET value = value + 1 WHERE name = 'task_number' RETURNING value",
    )
    .fetch_one(&mut **tx)
    .await?;
    Ok(TaskId::generated(u64::try_from(n).unwrap_or(0)))
}

/// Inserts task `t` (as [`Task::opened`] makes it) into the case of `case_seq`.
pub async fn insert_task(tx: &mut Tx, case_seq: i64, t: &Task) -> Result<()> {
    sqlx::query(
        "INSERT INTO tasks (task_id, case_seq, title, status, assignee, created_at, updated_at) \
         VALUES ($1, $2, $3, 'open', $4, $5, $5)",
    )
    .bind(t.id.as_str())
    .bind(case_seq)
    .bind(&t.title)
    .bind(&t.assignee)
    .bind(t.created_at.0)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
