//! The domain: cases, workflow, the rules of change. Pure: no I/O, no clock of its own.
//!
//! Both stores call [`apply_change`] to change a case, so the rules (transitions,
//! versions, history, task cascades) are written once.

mod apikey;
mod apply;
mod bulk_item;
mod case;
pub mod chunk;
mod comment;
pub mod create;
pub mod feed;
mod ids;
mod job;
pub mod job_records;
mod precondition;
pub mod query;
pub mod revert;
pub mod rules;
mod session;
pub mod settings;
mod task;
pub mod webhook;
mod workflow;

pub use apikey::{
    ApiKey, IssuedKey, MAX_KEY_NAME, Scope, is_key_id, issue_key, parse_new_key, same_bytes,
    token_hash, token_key_id,
};
pub use apply::{Applied, ChangeContext, HistoryRecord, ItemError, apply_change};
pub use bulk_item::{NOT_APPLIED, item_change, set_change};
pub use case::{
    Case, CaseChange, MAX_ASSIGNEE, MAX_DESCRIPTION, MAX_FIELD_NAME, MAX_FIELDS, MAX_FIELDS_BYTES,
    MAX_REASON, MAX_TAG, MAX_TAGS, MAX_TITLE, MAX_TITLE_SEARCH, MIN_TITLE_SEARCH, NewCase,
    parse_tags,
};
pub use comment::{
    Comment, CommentChange, CommentKey, MAX_COMMENT_BODY, MAX_COMMENTS_PER_CASE, NewComment,
    Visibility, comment_id,
};
pub use ids::{CaseId, TaskId};
pub use job::{ItemOutcome, Job, JobKind, JobState, Stall, new_job_id, random_hex};
pub use job_records::{
    ByFilter, DeliveryView, ItemRecord, JobChange, JobItems, JobOrigin, JobsPage, NewJob,
    ResultsPage, SubmitLimits, Submitted,
};
pub use precondition::Precondition;
pub use query::{
    Actor, CaseFilter, CasePosition, CaseSort, CaseUpdate, CommitSeq, ImportCase, JobStats, Paged,
    PoolStats, TaskUpdate, Updated,
};
pub use session::{ConsoleSession, IssuedSession, is_session_token, issue_session};
pub use task::{NewTask, Task, TaskChange, TaskKey, TaskStatus};
pub use workflow::{Priority, Status, Workflow, WorkflowConfig};

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};

/// A point in time, milliseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Self {
        Self(Utc::now().timestamp_millis())
    }

    /// RFC 3339, UTC, milliseconds: `2026-11-30T06:35:54.123Z`.
    pub fn to_rfc3339(self) -> String {
        match Utc.timestamp_millis_opt(self.0).single() {
            Some(t) => t.to_rfc3339_opts(SecondsFormat::Millis, true),
            None => String::from("1970-01-01T00:00:00.000Z"),
        }
    }

    /// Parses any RFC 3339 time (any offset).
    pub fn parse(s: &str) -> Result<Self, String> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| Self(t.timestamp_millis()))
            .map_err(|_| format!("'{s}' is not an RFC 3339 time"))
    }
}

/// Bytes as lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A complaint about one input field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, message: &str) -> Self {
        Self {
            field: field.to_owned(),
            message: message.to_owned(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Makes every whole number written as a float (`30.0`, `3e1`) an integer, as JSON Schema
/// counts it: a request may send an integer field that way.
pub fn integral_floats(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            // Within ±2^53 every integer is exact in an f64.
            if f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0 {
                #[allow(clippy::cast_possible_truncation)]
                let i = f as i64;
                *v = Value::from(i);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(integral_floats),
        Value::Object(o) => o.values_mut().for_each(integral_floats),
        _ => {}
    }
}
