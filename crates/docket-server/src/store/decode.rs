//! Rows into domain values, written once for both backends: each backend's row type
//! implements [`Columns`] (read a column by index), and [`case`], [`task`], [`history`]
//! and [`job`] decode a row selected with the matching column list. A value no version
//! of docket writes (an unknown priority, unparsable tags) is an error on both alike.

use serde_json::{Map, Value};

use super::sql::JobRow;
use crate::domain::feed::{Change, ChangeKind, FieldDiff};
use crate::domain::{
    Case, CaseId, Comment, HistoryRecord, Job, Priority, Status, Task, TaskId, TaskStatus,
    Timestamp, Visibility,
};

/// The columns of a case row, in the order [`case`] reads them.
pub const CASE_COLUMNS: &str = "seq, case_id, title, description, status, status_reason, priority, \
     assignee, tags, fields, open_tasks, version, created_at, updated_at, external_id, \
     comment_count";

/// The columns of a task row (`tasks t JOIN cases c`), in the order [`task`] reads them.
pub const TASK_COLUMNS: &str =
    "t.seq, t.task_id, c.case_id, t.title, t.status, t.assignee, t.created_at, t.updated_at";

/// The columns of a comment row (`comments m JOIN cases c`), in the order [`comment`]
/// reads them.
pub const COMMENT_COLUMNS: &str = "m.seq, m.comment_id, c.case_id, m.body, m.visibility, m.author, \
     m.created_at, m.updated_at, m.version, m.job_id";

/// The columns of a `changes` row, in the order [`change`] reads them: the first 16 are
/// the case after the change in [`CASE_COLUMNS`]'s order (the position in `seq`'s
/// place), so [`case`] reads them.
pub const CHANGE_COLUMNS: &str = "position, case_id, title, description, status, status_reason, \
     priority, assignee, tags, fields, open_tasks, version, created_at, updated_at, external_id, \
     comment_count, kind, at, body, actor, job_id, task_id, diffs, comment_id";

/// The columns a write fills from the case's row (the case after the change), in the
/// order of [`CHANGE_COLUMNS`].
pub const CHANGE_CASE_COLUMNS: &str = "title, description, status, status_reason, priority, \
     assignee, tags, fields, open_tasks, created_at, updated_at, external_id, comment_count";

/// A row of either backend, read by column index (from 0).
pub trait Columns {
    type Error;
    fn int(&self, i: usize) -> Result<i64, Self::Error>;
    fn opt_int(&self, i: usize) -> Result<Option<i64>, Self::Error>;
    fn text(&self, i: usize) -> Result<String, Self::Error>;
    fn opt_text(&self, i: usize) -> Result<Option<String>, Self::Error>;
    fn flag(&self, i: usize) -> Result<bool, Self::Error>;
    /// Column `i` holds something docket cannot read as `what`.
    fn unreadable(&self, i: usize, what: &str, why: String) -> Self::Error;
}

/// A case row selected with [`CASE_COLUMNS`], and its `seq`.
pub fn case<R: Columns>(r: &R) -> Result<(i64, Case), R::Error> {
    let id = r.text(1)?;
    let priority = r.text(6)?;
    let tags = r.text(8)?;
    let fields = r.text(9)?;
    let case = Case {
        id: CaseId::parse(&id).map_err(|e| r.unreadable(1, "case id", e))?,
        title: r.text(2)?,
        description: r.text(3)?,
        status: Status::from_stored(r.text(4)?),
        status_reason: r.opt_text(5)?,
        priority: Priority::parse(&priority).map_err(|e| r.unreadable(6, "priority", e))?,
        assignee: r.opt_text(7)?,
        tags: serde_json::from_str(&tags).map_err(|e| r.unreadable(8, "tags", e.to_string()))?,
        fields: serde_json::from_str::<Map<String, Value>>(&fields)
            .map_err(|e| r.unreadable(9, "fields", e.to_string()))?,
        open_tasks: u32::try_from(r.int(10)?).unwrap_or(0),
        version: u64::try_from(r.int(11)?).unwrap_or(0),
        created_at: Timestamp(r.int(12)?),
        updated_at: Timestamp(r.int(13)?),
        external_id: r.opt_text(14)?,
        // A change kept before comments has none.
        comment_count: u32::try_from(r.opt_int(15)?.unwrap_or(0)).unwrap_or(0),
    };
    Ok((r.int(0)?, case))
}

/// One change read back from the log (by the feed and the fan-out), rendered.
pub struct FeedChange {
    pub position: i64,
    pub kind: String,
    pub case_id: Option<String>,
    pub at: i64,
    pub body: String,
}

/// A change as its row keeps it: rendered already (a job event's, or a change kept
/// before the columns were), or in parts (its case, when the row holds a copy of it) to
/// render.
pub enum Stored {
    Rendered(String),
    Parts(Box<Change>),
}

/// A change row selected with [`CHANGE_COLUMNS`]: its [`FeedChange`] without the body,
/// and what the row keeps of it.
pub fn stored_change<R: Columns>(r: &R) -> Result<(FeedChange, Stored), R::Error> {
    let (position, kind, case_id, at) = (r.int(0)?, r.text(16)?, r.opt_text(1)?, r.int(17)?);
    let stored = match r.opt_text(18)? {
        Some(body) => Stored::Rendered(body),
        None => {
            let k = ChangeKind::parse(&kind)
                .ok_or_else(|| r.unreadable(16, "change type", kind.clone()))?;
            let diffs = r.opt_text(22)?;
            let changes = match diffs {
                Some(d) => serde_json::from_str::<Vec<FieldDiff>>(&d)
                    .map_err(|e| r.unreadable(22, "changed fields", e.to_string()))?,
                None => Vec::new(),
            };
            let case = match r.opt_text(2)? {
                Some(_) => Some(self::case(r)?.1),
                None => None,
            };
            let task_id = r.opt_text(21)?;
            Stored::Parts(Box::new(Change {
                kind: k,
                at: Timestamp(at),
                actor: r.opt_text(19)?.unwrap_or_default(),
                case_id: case_id
                    .as_deref()
                    .map(CaseId::parse)
                    .transpose()
                    .map_err(|e| r.unreadable(1, "case id", e))?,
                version: r.opt_int(11)?.map(|v| u64::try_from(v).unwrap_or(0)),
                job_id: r.opt_text(20)?,
                task_id: task_id
                    .as_deref()
                    .map(TaskId::parse)
                    .transpose()
                    .map_err(|e| r.unreadable(21, "task id", e))?,
                comment_id: r.opt_text(23)?,
                changes,
                case,
                job: None,
            }))
        }
    };
    let head = FeedChange {
        position,
        kind,
        case_id,
        at,
        body: String::new(),
    };
    Ok((head, stored))
}

impl FeedChange {
    /// This change with `body`.
    pub fn with_body(self, body: String) -> Self {
        Self { body, ..self }
    }
}

/// A task row selected with [`TASK_COLUMNS`], and its `seq`.
pub fn task<R: Columns>(r: &R) -> Result<(i64, Task), R::Error> {
    let id = r.text(1)?;
    let case_id = r.text(2)?;
    let status = r.text(4)?;
    let task = Task {
        id: TaskId::parse(&id).map_err(|e| r.unreadable(1, "task id", e))?,
        case_id: CaseId::parse(&case_id).map_err(|e| r.unreadable(2, "case id", e))?,
        title: r.text(3)?,
        status: TaskStatus::parse(&status).map_err(|e| r.unreadable(4, "task status", e))?,
        assignee: r.opt_text(5)?,
        created_at: Timestamp(r.int(6)?),
        updated_at: Timestamp(r.int(7)?),
    };
    Ok((r.int(0)?, task))
}

/// A comment row selected with [`COMMENT_COLUMNS`], and its `seq`.
pub fn comment<R: Columns>(r: &R) -> Result<(i64, Comment), R::Error> {
    let case_id = r.text(2)?;
    let visibility = r.text(4)?;
    let comment = Comment {
        id: r.text(1)?,
        case_id: CaseId::parse(&case_id).map_err(|e| r.unreadable(2, "case id", e))?,
        body: r.text(3)?,
        visibility: Visibility::parse(&visibility).map_err(|e| r.unreadable(4, "visibility", e))?,
        author: r.text(5)?,
        created_at: Timestamp(r.int(6)?),
        updated_at: Timestamp(r.int(7)?),
        version: u64::try_from(r.int(8)?).unwrap_or(0),
        job_id: r.opt_text(9)?,
    };
    Ok((r.int(0)?, comment))
}

/// A history row (`seq, at, actor, field, old, new, job_id`), and its `seq`. A value
/// that is not JSON reads as `null`.
pub fn history<R: Columns>(r: &R) -> Result<(i64, HistoryRecord), R::Error> {
    let from = r.text(4)?;
    let to = r.text(5)?;
    let h = HistoryRecord {
        at: Timestamp(r.int(1)?),
        actor: r.text(2)?,
        field: r.text(3)?,
        from: serde_json::from_str(&from).unwrap_or(Value::Null),
        to: serde_json::from_str(&to).unwrap_or(Value::Null),
        job_id: r.opt_text(6)?,
    };
    Ok((r.int(0)?, h))
}

/// A job row selected with [`super::sql::JOB_COLUMNS`], still to be decoded
/// ([`JobRow::decode`], which refuses a state docket does not know).
pub fn job_row<R: Columns>(r: &R) -> Result<JobRow, R::Error> {
    Ok(JobRow {
        seq: r.int(0)?,
        job_id: r.text(1)?,
        state: r.text(2)?,
        counts: [r.int(3)?, r.int(4)?, r.int(5)?, r.int(6)?],
        atomic: r.flag(7)?,
        callback_url: r.opt_text(8)?,
        parent_id: r.opt_text(9)?,
        created_at: r.int(10)?,
        started_at: r.opt_int(11)?,
        finished_at: r.opt_int(12)?,
        last_commit: r.int(13)?,
        dry_run: r.flag(14)?,
        revert_of: r.opt_text(15)?,
        kind: r.text(16)?,
    })
}

/// A job row selected with [`super::sql::JOB_COLUMNS`], and its `seq`.
pub fn job<R: Columns>(r: &R) -> super::Result<(i64, Job)>
where
    super::Error: From<R::Error>,
{
    job_row(r)?.decode()
}
