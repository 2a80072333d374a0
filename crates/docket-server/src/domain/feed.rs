//! The change feed's records: what each write records, in its own transaction, for the
//! feed (a transactional outbox). What a write records is decided here once; the store
//! keeps it in columns with a copy of the case's row, and renders it to the API's JSON
//! ([`Render`], the wire's, handed to the store when it opens) when the feed reads it.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{Case, CaseId, Comment, HistoryRecord, Job, JobState, Task, TaskId, Timestamp};

/// The actor of the changes an import records (`docket seed`, demo data).
pub const IMPORT_ACTOR: &str = "import";

/// The actor of a job's end event: the service, which ended it.
pub const JOB_ACTOR: &str = "docket";

/// A change's type, as the API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    CaseCreated,
    CaseUpdated,
    CaseDeleted,
    TaskCreated,
    TaskUpdated,
    CommentCreated,
    CommentUpdated,
    CommentDeleted,
    JobCompleted,
    JobFailed,
    JobCancelled,
}

impl ChangeKind {
    pub const ALL: [ChangeKind; 11] = [
        Self::CaseCreated,
        Self::CaseUpdated,
        Self::CaseDeleted,
        Self::TaskCreated,
        Self::TaskUpdated,
        Self::CommentCreated,
        Self::CommentUpdated,
        Self::CommentDeleted,
        Self::JobCompleted,
        Self::JobFailed,
        Self::JobCancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CaseCreated => "case.created",
            Self::CaseUpdated => "case.updated",
            Self::CaseDeleted => "case.deleted",
            Self::TaskCreated => "task.created",
            Self::TaskUpdated => "task.updated",
            Self::CommentCreated => "comment.created",
            Self::CommentUpdated => "comment.updated",
            Self::CommentDeleted => "comment.deleted",
            Self::JobCompleted => "job.completed",
            Self::JobFailed => "job.failed",
            Self::JobCancelled => "job.cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The event a job's end makes (`None` while it runs).
    pub fn of_job_end(state: JobState) -> Option<Self> {
        match state {
            JobState::Completed => Some(Self::JobCompleted),
            JobState::Failed => Some(Self::JobFailed),
            JobState::Cancelled => Some(Self::JobCancelled),
            JobState::Queued | JobState::Running => None,
        }
    }
}

/// One field a change changed (as the API shows it, and as the store keeps it).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FieldDiff {
    pub field: String,
    pub from: Value,
    pub to: Value,
}

/// One change. A write records it without `case`: the store keeps the case after the
/// change by copying its row as the transaction left it (no rendering on the writer's
/// path), and fills `case` in again when the feed reads the change back.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub kind: ChangeKind,
    pub at: Timestamp,
    pub actor: String,
    pub case_id: Option<CaseId>,
    /// The case's version after the change.
    pub version: Option<u64>,
    pub job_id: Option<String>,
    pub task_id: Option<TaskId>,
    pub comment_id: Option<String>,
    pub changes: Vec<FieldDiff>,
    /// The case after the change (as read back from the store).
    pub case: Option<Case>,
    /// A job event's job, as it ended.
    pub job: Option<Job>,
}

/// Renders a change to the API's JSON object, without its position (the feed adds it).
pub type Render = Arc<dyn Fn(&Change) -> String + Send + Sync>;

impl Change {
    fn of_case(kind: ChangeKind, case: &Case, actor: &str, at: Timestamp) -> Self {
        Self {
            kind,
            at,
            actor: actor.to_owned(),
            case_id: Some(case.id.clone()),
            version: Some(case.version),
            job_id: None,
            task_id: None,
            comment_id: None,
            changes: Vec::new(),
            case: None,
            job: None,
        }
    }

    /// A case was created. Its changed fields (every field it was given, from `null`)
    /// are made when it is read back ([`Change::read_back`]), from the case after it.
    pub fn case_created(case: &Case, actor: &str) -> Self {
        Self::of_case(ChangeKind::CaseCreated, case, actor, case.created_at)
    }

    /// A case was changed (by a single write, or by a bulk job's item): its history
    /// entries are the changed fields.
    pub fn case_updated(case: &Case, history: &[HistoryRecord]) -> Self {
        let first = history.first();
        let actor = first.map_or("", |h| h.actor.as_str());
        let at = first.map_or(case.updated_at, |h| h.at);
        let mut c = Self::of_case(ChangeKind::CaseUpdated, case, actor, at);
        c.job_id = first.and_then(|h| h.job_id.clone());
        c.changes = history
            .iter()
            .map(|h| FieldDiff {
                field: h.field.clone(),
                from: h.from.clone(),
                to: h.to.clone(),
            })
            .collect();
        c
    }

    /// A case was deleted. Its version is the one after its last change plus one: the
    /// deletion is the case's last change.
    pub fn case_deleted(case: &Case, actor: &str, at: Timestamp) -> Self {
        let mut c = Self::of_case(ChangeKind::CaseDeleted, case, actor, at);
        c.version = Some(case.version + 1);
        c
    }

    /// A case was created by an item of a job (see [`Change::case_created`]).
    pub fn case_created_by_job(case: &Case, ctx: &super::ChangeContext<'_>) -> Self {
        let mut c = Self::case_created(case, ctx.actor);
        c.job_id = ctx.job_id.map(str::to_owned);
        c
    }

    /// A case was deleted by an item of job `job_id` (see [`Change::case_deleted`]).
    pub fn case_deleted_by_job(case: &Case, ctx: &super::ChangeContext<'_>) -> Self {
        let mut c = Self::case_deleted(case, ctx.actor, ctx.at);
        c.job_id = ctx.job_id.map(str::to_owned);
        c
    }

    /// A task was added to `case` (the case after it: its `openTasks` moved).
    pub fn task_created(task: &Task, case: &Case, actor: &str) -> Self {
        let mut c = Self::of_case(ChangeKind::TaskCreated, case, actor, task.created_at);
        c.task_id = Some(task.id.clone());
        c.changes = task_fields(None, task);
        c
    }

    /// A comment was written on `case` (the case after it: its `commentCount` moved),
    /// or changed from `before`, or (`deleted`) deleted.
    pub fn comment(
        before: Option<&Comment>,
        comment: &Comment,
        deleted: bool,
        case: &Case,
        actor: &str,
        at: Timestamp,
    ) -> Self {
        let kind = match (before, deleted) {
            (_, true) => ChangeKind::CommentDeleted,
            (None, false) => ChangeKind::CommentCreated,
            (Some(_), false) => ChangeKind::CommentUpdated,
        };
        let mut c = Self::of_case(kind, case, actor, at);
        c.comment_id = Some(comment.id.clone());
        c.job_id.clone_from(&comment.job_id);
        let mut diff = |field: &str, from: Value, to: Value| {
            if from != to {
                c.changes.push(FieldDiff {
                    field: field.into(),
                    from,
                    to,
                });
            }
        };
        let (from_body, from_vis) = match (before, deleted) {
            (Some(b), _) => (json!(b.body), json!(b.visibility.as_str())),
            (None, true) => (json!(comment.body), json!(comment.visibility.as_str())),
            (None, false) => (Value::Null, Value::Null),
        };
        let (to_body, to_vis) = if deleted {
            (Value::Null, Value::Null)
        } else {
            (json!(comment.body), json!(comment.visibility.as_str()))
        };
        diff("body", from_body, to_body);
        diff("visibility", from_vis, to_vis);
        c
    }

    /// A task changed from `before` to `task` (`case` as it is after).
    pub fn task_updated(before: &Task, task: &Task, case: &Case, actor: &str) -> Self {
        let mut c = Self::of_case(ChangeKind::TaskUpdated, case, actor, task.updated_at);
        c.task_id = Some(task.id.clone());
        c.changes = task_fields(Some(before), task);
        c
    }

    /// A job ended (`None` if it has not).
    /// A dry run records nothing in the feed, its end included.
    pub fn job_ended(job: &Job, actor: &str) -> Option<Self> {
        if job.dry_run {
            return None;
        }
        Some(Self {
            kind: ChangeKind::of_job_end(job.state)?,
            at: job.finished_at.unwrap_or(job.created_at),
            actor: actor.to_owned(),
            case_id: None,
            version: None,
            job_id: Some(job.id.clone()),
            task_id: None,
            comment_id: None,
            changes: Vec::new(),
            case: None,
            job: Some(job.clone()),
        })
    }

    /// Whether the change shows the case after it: the store copies the case's row as
    /// the change's transaction left it (every case and task change but a deletion).
    pub fn shows_case(&self) -> bool {
        self.case_id.is_some() && self.kind != ChangeKind::CaseDeleted
    }

    /// The changed fields as the store keeps them (a JSON array; `None` when none).
    pub fn diffs_json(&self) -> Option<String> {
        (!self.changes.is_empty()).then(|| {
            // Strings and JSON values always serialize.
            serde_json::to_string(&self.changes).unwrap_or_else(|_| "[]".into())
        })
    }

    /// A change as the store reads it back: a creation's changed fields are every
    /// field the case after it was given, from `null` (the store keeps no copy of them).
    pub fn read_back(mut self) -> Self {
        if self.kind == ChangeKind::CaseCreated && self.changes.is_empty() {
            if let Some(case) = &self.case {
                self.changes = created_fields(case);
            }
        }
        self
    }

    /// The body the store keeps already rendered: a job event's (its job is not a row
    /// the store could copy). Every other change is rendered when it is read.
    pub fn stored_body(&self, render: &Render) -> Option<String> {
        self.job.is_some().then(|| render(self))
    }
}

/// A new case's fields, each from `null` (those it was given: not empty).
fn created_fields(case: &Case) -> Vec<FieldDiff> {
    let mut out = Vec::new();
    let mut set = |field: &str, to: Value| {
        if !to.is_null() && to != json!([]) && to != json!({}) {
            out.push(FieldDiff {
                field: field.into(),
                from: Value::Null,
                to,
            });
        }
    };
    set("title", json!(case.title));
    set("description", json!(case.description));
    set("status", json!(case.status.to_string()));
    set("statusReason", json!(case.status_reason));
    set("priority", json!(case.priority.to_string()));
    set("assignee", json!(case.assignee));
    set("tags", json!(case.tags));
    set("fields", json!(case.fields));
    out
}

/// The task's fields that differ from `before` (every set one for a new task).
fn task_fields(before: Option<&Task>, t: &Task) -> Vec<FieldDiff> {
    let mut out = Vec::new();
    let mut diff = |field: &str, from: Value, to: Value| {
        if from != to {
            out.push(FieldDiff {
                field: field.into(),
                from,
                to,
            });
        }
    };
    diff(
        "title",
        before.map_or(Value::Null, |b| json!(b.title)),
        json!(t.title),
    );
    diff(
        "status",
        before.map_or(Value::Null, |b| json!(b.status.as_str())),
        json!(t.status.as_str()),
    );
    diff(
        "assignee",
        before.map_or(Value::Null, |b| json!(b.assignee)),
        json!(t.assignee),
    );
    out
}

/// Where a read of the feed starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// From the oldest change kept.
    Oldest,
    /// Only changes committed after the request.
    Now,
    /// After this position.
    Position(i64),
}

/// A read of the feed, as the store runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedQuery {
    /// Positions above this one.
    pub after: i64,
    pub limit: u32,
    /// Only these types (all when empty).
    pub kinds: Vec<&'static str>,
    pub case_id: Option<String>,
}

/// What a read of the feed found: `(position, body)` in position order, and the
/// highest position purged (read after the items, so a purge that raced the read is
/// seen: a cursor below it may have missed changes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedRead {
    pub items: Vec<(i64, String)>,
    pub purged_through: i64,
}

/// The feed's answer to a JSON object of the API: `body` with `"position"` first.
pub fn with_position(position: i64, body: &str) -> String {
    let rest = body.strip_prefix('{').unwrap_or(body);
    let sep = if rest.starts_with('}') { "" } else { "," };
    format!("{{\"position\":\"{position}\"{sep}{rest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_position_goes_first_in_the_object() {
        assert_eq!(
            with_position(42, r#"{"type":"case.updated"}"#),
            r#"{"position":"42","type":"case.updated"}"#
        );
        assert_eq!(with_position(1, "{}"), r#"{"position":"1"}"#);
    }

    #[test]
    fn every_kind_parses_back_from_its_name() {
        for k in ChangeKind::ALL {
            assert_eq!(ChangeKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(ChangeKind::parse("case.exploded"), None);
    }
}
