//! Tasks: work items related to a case. A case entering a terminal status closes them.

use super::ids::{CaseId, TaskId};
use super::{FieldError, Timestamp};

/// `open` until someone finishes it (or its case closes), then `done`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskStatus {
    Open,
    Done,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Done => "done",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "open" => Ok(Self::Open),
            "done" => Ok(Self::Done),
            _ => Err(format!("unknown task status '{s}' (expected open or done)")),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub id: TaskId,
    pub case_id: CaseId,
    pub title: String,
    pub status: TaskStatus,
    pub assignee: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A task's address: the case it belongs to and its own id (a task asked for under
/// another case does not exist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskKey {
    pub case: CaseId,
    pub task: TaskId,
}

impl Task {
    /// Task `new`, just added to case `case_id` at `at` as `id`: open, never updated.
    pub fn opened(id: TaskId, case_id: &CaseId, new: &NewTask, at: Timestamp) -> Self {
        Self {
            id,
            case_id: case_id.clone(),
            title: new.title.clone(),
            status: TaskStatus::Open,
            assignee: new.assignee.clone(),
            created_at: at,
            updated_at: at,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    pub title: String,
    pub assignee: Option<String>,
}

impl NewTask {
    pub fn parse(dto: docket_api::NewTask) -> Result<Self, Vec<FieldError>> {
        let mut errs = Vec::new();
        let sent = dto.title.as_deref().unwrap_or("");
        let title = sent.trim();
        if title.is_empty() || sent.chars().count() > super::case::MAX_TITLE {
            errs.push(FieldError::new("title", "is required, 1 to 500 characters"));
        }
        check_assignee(&mut errs, dto.assignee.as_deref());
        let assignee = dto
            .assignee
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty());
        if errs.is_empty() {
            Ok(Self {
                title: title.to_owned(),
                assignee,
            })
        } else {
            Err(errs)
        }
    }
}

/// A task's assignee is at most 200 characters as sent (on create and on change).
fn check_assignee(errs: &mut Vec<FieldError>, assignee: Option<&str>) {
    if assignee.is_some_and(|a| a.chars().count() > super::case::MAX_ASSIGNEE) {
        errs.push(FieldError::new(
            "assignee",
            "must be at most 200 characters",
        ));
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskChange {
    pub title: Option<String>,
    pub status: Option<TaskStatus>,
    pub assignee: Option<Option<String>>,
}

impl TaskChange {
    pub fn parse(dto: docket_api::TaskPatch) -> Result<Self, Vec<FieldError>> {
        let mut errs = Vec::new();
        if dto
            .title
            .as_ref()
            .is_some_and(|t| t.trim().is_empty() || t.chars().count() > super::case::MAX_TITLE)
        {
            errs.push(FieldError::new("title", "must be 1 to 500 characters"));
        }
        let title = dto.title.map(|t| t.trim().to_owned());
        check_assignee(&mut errs, dto.assignee.as_ref().and_then(Option::as_deref));
        let status = match dto.status.map(|s| TaskStatus::parse(&s)) {
            Some(Err(m)) => {
                errs.push(FieldError::new("status", &m));
                None
            }
            other => other.and_then(Result::ok),
        };
        let assignee = dto
            .assignee
            .map(|a| a.map(|a| a.trim().to_owned()).filter(|a| !a.is_empty()));
        if errs.is_empty() {
            Ok(Self {
                title,
                status,
                assignee,
            })
        } else {
            Err(errs)
        }
    }

    /// Applies the change; returns whether anything changed.
    pub fn apply(&self, task: &mut Task, at: Timestamp) -> bool {
        let before = task.clone();
        if let Some(t) = &self.title {
            task.title.clone_from(t);
        }
        if let Some(s) = self.status {
            task.status = s;
        }
        if let Some(a) = &self.assignee {
            task.assignee.clone_from(a);
        }
        let changed = *task != before;
        if changed {
            task.updated_at = at;
        }
        changed
    }
}
