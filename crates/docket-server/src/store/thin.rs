//! A thin change: a bulk job's `case.updated` change kept without a copy of its case,
//! and how its case is rebuilt when the change is read (both stores; the SQL is each
//! store's: `sqlite/thin.rs`, `postgres/thin.rs`).
//!
//! A change shows the case as the change left it. A thin change keeps, instead of a
//! copy, the ids of the history rows it wrote (`history_from..=history_to`, which are its
//! changed fields) and the case's counters after it. The reader takes, in one snapshot,
//! the case as it is now (or as it was deleted), undoes each field the case's later
//! history changed (newest first, each to its `from` value) and sets the change's
//! version and counters: the case as the change left it. Every write of a case's fields
//! writes a history row for each field it changes (`apply_change`), and nothing else
//! changes them, so nothing is missed.

use serde_json::Value;

use crate::domain::feed::{Change, FieldDiff, Render};
use crate::domain::{Case, Priority, Status, Timestamp};
use crate::store::decode::{self, CASE_COLUMNS, Columns, FeedChange, Stored};

/// The columns a change row is read with: [`decode::CHANGE_COLUMNS`], then these.
pub const THIN_COLUMNS: &str = "history_from, history_to";

/// [`CASE_COLUMNS`] without `seq`: what `deleted_cases` keeps of a case, in that order.
pub fn case_parts() -> &'static str {
    CASE_COLUMNS.strip_prefix("seq, ").unwrap_or(CASE_COLUMNS)
}

/// What a thin change keeps besides its head: its history rows and the case's counters.
#[derive(Debug, Clone, Copy)]
pub struct Thin {
    /// The first and last `case_history` id the change wrote.
    pub history: (i64, i64),
    pub open_tasks: u32,
    pub updated_at: Timestamp,
    pub comment_count: u32,
}

impl Thin {
    /// The thin change of `case` (as a change left it), which wrote `history`.
    pub fn of(case: &Case, history: (i64, i64)) -> Self {
        Self {
            history,
            open_tasks: case.open_tasks,
            updated_at: case.updated_at,
            comment_count: case.comment_count,
        }
    }
}

/// A change row selected with [`decode::CHANGE_COLUMNS`] and [`THIN_COLUMNS`]: its head,
/// what the row keeps, and its [`Thin`] parts when it is thin.
pub fn read_row<R: Columns>(r: &R) -> Result<(FeedChange, Stored, Option<Thin>), R::Error> {
    let (head, stored) = decode::stored_change(r)?;
    let thin = match r.opt_int(24)? {
        Some(from) => Some(Thin {
            history: (from, r.int(25)?),
            open_tasks: u32::try_from(r.int(10)?).unwrap_or(0),
            updated_at: Timestamp(r.int(13)?),
            comment_count: u32::try_from(r.int(15)?).unwrap_or(0),
        }),
        None => None,
    };
    Ok((head, stored, thin))
}

/// Renders a change [`read_row`] read, filling a thin one in with `rebuild` first.
pub fn render_row<E>(
    (head, stored, thin): (FeedChange, Stored, Option<Thin>),
    render: &Render,
    mut rebuild: impl FnMut(&mut Change, &Thin) -> Result<(), E>,
) -> Result<FeedChange, E> {
    let body = match stored {
        Stored::Rendered(body) => body,
        Stored::Parts(mut c) => {
            if let Some(t) = thin {
                rebuild(&mut c, &t)?;
            }
            render(&(*c).read_back())
        }
    };
    Ok(head.with_body(body))
}

/// The error of thin change `c` that cannot be read back, and why.
pub fn broken(c: &Change) -> impl Fn(&str) -> crate::store::Error + use<> {
    let what = format!(
        "the change of case {} at version {:?} cannot be read back",
        c.case_id.as_ref().map_or("?", |id| id.as_str()),
        c.version
    );
    move |why| crate::store::Error::Other(anyhow::anyhow!("{what}: {why}"))
}

/// A `case_history` row as the rebuild reads it: id, field, from and to (JSON text).
pub type HistoryRow = (i64, String, String, String);

/// Fills thin change `c` in: its case, from `base` (the case now, or as deleted) and
/// `history` (the case's history rows from the change's first on, in id order), and its
/// changed fields.
pub fn fill(
    c: &mut Change,
    mut base: Case,
    t: &Thin,
    history: &[HistoryRow],
) -> std::result::Result<(), String> {
    let json = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
    let split = history.partition_point(|h| h.0 <= t.history.1);
    for (_, field, before, _) in history[split..].iter().rev() {
        undo(&mut base, field, json(before))?;
    }
    c.changes = history[..split]
        .iter()
        .map(|(_, field, from, to)| FieldDiff {
            field: field.clone(),
            from: json(from),
            to: json(to),
        })
        .collect();
    base.version = c.version.unwrap_or(base.version);
    base.open_tasks = t.open_tasks;
    base.updated_at = t.updated_at;
    base.comment_count = t.comment_count;
    c.case = Some(base);
    Ok(())
}

/// Sets `field` of `case` back to `before` (a history row's `from`).
fn undo(case: &mut Case, field: &str, before: Value) -> std::result::Result<(), String> {
    let text = |v: Value| match v {
        Value::String(s) => Ok(s),
        v => Err(format!("{field} was {v}, not a string")),
    };
    let opt_text = |v: Value| match v {
        Value::Null => Ok(None),
        v => text(v).map(Some),
    };
    match field {
        "title" => case.title = text(before)?,
        "description" => case.description = text(before)?,
        "status" => case.status = Status::from_stored(text(before)?),
        "statusReason" => case.status_reason = opt_text(before)?,
        "priority" => case.priority = Priority::parse(&text(before)?)?,
        "assignee" => case.assignee = opt_text(before)?,
        "externalId" => case.external_id = opt_text(before)?,
        "tags" => case.tags = serde_json::from_value(before).map_err(|e| e.to_string())?,
        _ => {
            let Some(name) = field.strip_prefix("fields.") else {
                return Err(format!("a history row of an unknown field, {field}"));
            };
            if before.is_null() {
                case.fields.remove(name);
            } else {
                case.fields.insert(name.to_owned(), before);
            }
        }
    }
    Ok(())
}
