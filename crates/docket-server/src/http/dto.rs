//! Conversions from domain types to the wire types of `docket-api`, and cursors.

use crate::domain::{Case, HistoryRecord, Task};

use super::error::ApiError;

pub fn case(c: Case) -> docket_api::Case {
    docket_api::Case {
        case_id: c.id.to_string(),
        title: c.title,
        description: c.description,
        status: c.status.to_string(),
        status_reason: c.status_reason,
        priority: c.priority.to_string(),
        assignee: c.assignee,
        tags: c.tags,
        fields: c.fields,
        open_tasks: c.open_tasks,
        version: c.version,
        created_at: c.created_at.to_rfc3339(),
        updated_at: c.updated_at.to_rfc3339(),
    }
}

pub fn task(t: Task) -> docket_api::Task {
    docket_api::Task {
        task_id: t.id.to_string(),
        case_id: t.case_id.to_string(),
        title: t.title,
        status: t.status.as_str().to_owned(),
        assignee: t.assignee,
        created_at: t.created_at.to_rfc3339(),
        updated_at: t.updated_at.to_rfc3339(),
    }
}

pub fn history(h: HistoryRecord) -> docket_api::HistoryEntry {
    docket_api::HistoryEntry {
        at: h.at.to_rfc3339(),
        actor: h.actor,
        field: h.field,
        from: h.from,
        to: h.to,
        job_id: h.job_id,
    }
}

/// Cursors are opaque to clients: `n` and a position in the listing's order.
pub fn encode_cursor(pos: Option<i64>) -> Option<String> {
    pos.map(|p| format!("n{p}"))
}

pub fn decode_cursor(c: Option<&str>) -> Result<Option<i64>, ApiError> {
    match c {
        None | Some("") => Ok(None),
        Some(c) => c
            .strip_prefix('n')
            .and_then(|n| n.parse::<i64>().ok())
            .filter(|n| *n >= 0)
            .map(Some)
            .ok_or_else(|| ApiError {
                code: docket_api::codes::INVALID_CURSOR,
                ..ApiError::query("cursor", "is not a cursor this server issued")
            }),
    }
}
