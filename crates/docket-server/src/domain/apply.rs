//! The one function that changes a case.
//!
//! Invariants (property-tested below): an applied change raises the version by exactly
//! one and records one history entry per changed field; a change that changes nothing
//! leaves the case (and its version) untouched; no change leaves a terminal status
//! unless the workflow allows it; a case entering a terminal status closes its tasks;
//! no change takes a case's custom fields over their limits.

use serde_json::{Value, json};

use super::case::{Case, CaseChange, check_merged_fields};
use super::workflow::Workflow;
use super::{FieldError, Timestamp};

/// Who changes a case, when, and on behalf of which job.
#[derive(Debug, Clone)]
pub struct ChangeContext<'a> {
    pub actor: &'a str,
    pub at: Timestamp,
    pub job_id: Option<&'a str>,
}

/// One entry of a case's change log.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRecord {
    pub at: Timestamp,
    pub actor: String,
    pub field: String,
    pub from: Value,
    pub to: Value,
    pub job_id: Option<String>,
}

/// The result of applying a change: the new case, its history entries (empty when
/// no field changed), whether the case's open tasks must be closed, and the comment the
/// change adds (a bulk item's; the case's `commentCount` counts it already).
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub case: Case,
    pub history: Vec<HistoryRecord>,
    pub close_open_tasks: bool,
    pub comment: Option<super::NewComment>,
}

impl Applied {
    /// Whether the case changed: a field, or a comment added (one version either way).
    pub fn changed(&self) -> bool {
        !self.history.is_empty() || self.comment.is_some()
    }
}

/// Why a change to one case was refused. Each has a stable API code.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ItemError {
    #[error("case {0} does not exist")]
    CaseNotFound(String),
    #[error("a case cannot move from '{from}' to '{to}'")]
    InvalidTransition { from: String, to: String },
    #[error("expected version {expected}, but the case is at version {actual}")]
    VersionConflict { expected: u64, actual: u64 },
    #[error("invalid change: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Validation(Vec<FieldError>),
    /// An update item's `if` does not hold for the case (why, in words).
    #[error("{0}")]
    PreconditionFailed(String),
    /// A create item names a case id that is taken.
    #[error("case {0} already exists")]
    CaseExists(String),
    /// `case_id`: the case that has it, when known (a racing writer's is not).
    #[error(
        "externalId '{external_id}' is already the external id of {}",
        case_id.as_deref().map_or("another case".to_owned(), |c| format!("case {c}"))
    )]
    ExternalIdTaken {
        external_id: String,
        case_id: Option<String>,
    },
}

impl ItemError {
    /// A task may not be added to (or reopened on) a case in a terminal status.
    pub fn case_closed(case: &Case) -> Self {
        Self::Validation(vec![FieldError::new(
            "caseId",
            &format!(
                "case {} is {}; its tasks cannot be opened",
                case.id, case.status
            ),
        )])
    }

    pub fn code(&self) -> &'static str {
        use docket_api::codes;
        match self {
            Self::CaseNotFound(_) => codes::CASE_NOT_FOUND,
            Self::InvalidTransition { .. } => codes::INVALID_TRANSITION,
            Self::VersionConflict { .. } => codes::VERSION_CONFLICT,
            Self::Validation(_) => codes::VALIDATION_FAILED,
            Self::PreconditionFailed(_) => codes::PRECONDITION_FAILED,
            Self::ExternalIdTaken { .. } => codes::EXTERNAL_ID_TAKEN,
            Self::CaseExists(_) => codes::CASE_EXISTS,
        }
    }
}

/// Applies `change` to `case` under `wf`.
pub fn apply_change(
    case: &Case,
    change: &CaseChange,
    wf: &Workflow,
    ctx: &ChangeContext<'_>,
) -> Result<Applied, ItemError> {
    if let Some(expected) = change.expected_version {
        if expected != case.version {
            return Err(ItemError::VersionConflict {
                expected,
                actual: case.version,
            });
        }
    }
    let refused = change
        .precondition
        .as_ref()
        .and_then(|p| p.refuses(&case.id, &case.status, &case.assignee));
    if let Some(why) = refused {
        return Err(ItemError::PreconditionFailed(why));
    }
    let mut next = case.clone();
    let mut history = Vec::new();
    let mut record = |field: &str, from: Value, to: Value| {
        if from != to {
            history.push(HistoryRecord {
                at: ctx.at,
                actor: ctx.actor.to_owned(),
                field: field.to_owned(),
                from,
                to,
                job_id: ctx.job_id.map(str::to_owned),
            });
        }
    };
    let mut close_open_tasks = false;
    if let Some(to) = &change.status {
        if !change.restore && !wf.allows(&case.status, to) {
            return Err(ItemError::InvalidTransition {
                from: case.status.to_string(),
                to: to.to_string(),
            });
        }
        record("status", json!(case.status.as_str()), json!(to.as_str()));
        close_open_tasks = case.status != *to && wf.is_terminal(to) && case.open_tasks > 0;
        next.status = to.clone();
    }
    if let Some(t) = &change.title {
        record("title", json!(case.title), json!(t));
        next.title.clone_from(t);
    }
    if let Some(d) = &change.description {
        record("description", json!(case.description), json!(d));
        next.description.clone_from(d);
    }
    if let Some(r) = &change.status_reason {
        record("statusReason", json!(case.status_reason), json!(r));
        next.status_reason.clone_from(r);
    }
    if let Some(p) = change.priority {
        record("priority", json!(case.priority.as_str()), json!(p.as_str()));
        next.priority = p;
    }
    if let Some(a) = &change.assignee {
        record("assignee", json!(case.assignee), json!(a));
        next.assignee.clone_from(a);
    }
    if let Some(tags) = change.tags_after(&case.tags) {
        let tags = tags.map_err(|m| ItemError::Validation(vec![FieldError::new("tags", &m)]))?;
        record("tags", json!(case.tags), json!(tags));
        next.tags = tags;
    }
    if let Some(e) = &change.external_id {
        record("externalId", json!(case.external_id), json!(e));
        next.external_id.clone_from(e);
    }
    if let Some(fields) = &change.fields {
        for (k, v) in fields {
            let old = case.fields.get(k).cloned().unwrap_or(Value::Null);
            record(&format!("fields.{k}"), old, v.clone());
            if v.is_null() {
                next.fields.remove(k);
            } else {
                next.fields.insert(k.clone(), v.clone());
            }
        }
        check_merged_fields(&case.fields, &next.fields)
            .map_err(|m| ItemError::Validation(vec![FieldError::new("fields", &m)]))?;
    }
    if change.comment.is_some() {
        super::rules::may_comment(case)?;
        next.comment_count += 1;
    }
    if !history.is_empty() || change.comment.is_some() {
        next.version = case.version + 1;
        next.updated_at = ctx.at;
        if close_open_tasks {
            next.open_tasks = 0;
        }
    }
    Ok(Applied {
        case: next,
        history,
        close_open_tasks,
        comment: change.comment.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CaseId, Priority, Status};
    use proptest::prelude::*;
    use serde_json::Map;

    fn case_in(wf: &Workflow, status: &str, open_tasks: u32) -> Case {
        Case {
            id: CaseId::generated(1),
            title: "t".into(),
            description: String::new(),
            status: wf.parse(status).unwrap(),
            status_reason: None,
            priority: Priority::Medium,
            assignee: None,
            tags: vec![],
            fields: Map::new(),
            open_tasks,
            comment_count: 0,
            version: 1,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
            external_id: None,
        }
    }

    fn ctx() -> ChangeContext<'static> {
        ChangeContext {
            actor: "tester",
            at: Timestamp(1_000),
            job_id: None,
        }
    }

    #[test]
    fn status_change_records_history_and_bumps_version() {
        let wf = Workflow::default();
        let c = case_in(&wf, "In Progress", 0);
        let ch = CaseChange {
            status: Some(wf.parse("Under Review").unwrap()),
            ..Default::default()
        };
        let a = apply_change(&c, &ch, &wf, &ctx()).unwrap();
        assert_eq!(a.case.status.as_str(), "Under Review");
        assert_eq!(a.case.version, 2);
        assert_eq!(a.case.updated_at, Timestamp(1_000));
        assert_eq!(a.history.len(), 1);
        assert_eq!(a.history[0].from, json!("In Progress"));
    }

    #[test]
    fn forbidden_transition_is_refused() {
        let wf = Workflow::default();
        let c = case_in(&wf, "Closed", 0);
        let ch = CaseChange {
            status: Some(wf.parse("Open").unwrap()),
            ..Default::default()
        };
        let e = apply_change(&c, &ch, &wf, &ctx()).unwrap_err();
        assert_eq!(e.code(), "invalid_transition");
    }

    #[test]
    fn stale_expected_version_is_a_conflict() {
        let wf = Workflow::default();
        let c = case_in(&wf, "Open", 0);
        let ch = CaseChange {
            expected_version: Some(7),
            ..Default::default()
        };
        assert_eq!(
            apply_change(&c, &ch, &wf, &ctx()).unwrap_err(),
            ItemError::VersionConflict {
                expected: 7,
                actual: 1
            }
        );
    }

    #[test]
    fn entering_a_terminal_status_closes_open_tasks() {
        let wf = Workflow::default();
        let c = case_in(&wf, "Open", 3);
        let ch = CaseChange {
            status: Some(wf.parse("Closed").unwrap()),
            ..Default::default()
        };
        let a = apply_change(&c, &ch, &wf, &ctx()).unwrap();
        assert!(a.close_open_tasks);
        assert_eq!(a.case.open_tasks, 0);
    }

    #[test]
    fn custom_fields_merge_and_null_removes() {
        let wf = Workflow::default();
        let mut c = case_in(&wf, "Open", 0);
        c.fields.insert("a".into(), json!(1));
        c.fields.insert("b".into(), json!(2));
        let mut f = Map::new();
        f.insert("a".into(), Value::Null);
        f.insert("c".into(), json!("x"));
        let ch = CaseChange {
            fields: Some(f),
            ..Default::default()
        };
        let a = apply_change(&c, &ch, &wf, &ctx()).unwrap();
        assert_eq!(json!(a.case.fields), json!({"b": 2, "c": "x"}));
        assert_eq!(a.history.len(), 2);
    }

    #[test]
    fn custom_field_limits_hold_on_the_merged_fields_and_an_oversized_case_may_shrink() {
        let wf = Workflow::default();
        let mut c = case_in(&wf, "Open", 0);
        for i in 0..100 {
            c.fields.insert(format!("a{i}"), json!(i));
        }
        let change = |pairs: &[(&str, Value)]| CaseChange {
            fields: Some(
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), v.clone()))
                    .collect(),
            ),
            ..Default::default()
        };
        let e = apply_change(&c, &change(&[("b", json!(1))]), &wf, &ctx()).unwrap_err();
        assert!(
            matches!(&e, ItemError::Validation(f) if f[0].field == "fields"),
            "{e}"
        );
        let swap = change(&[("a0", Value::Null), ("b", json!(1))]);
        assert_eq!(
            apply_change(&c, &swap, &wf, &ctx())
                .unwrap()
                .case
                .fields
                .len(),
            100
        );
        // A case stored over the limit (before merged fields were checked) can shrink.
        c.fields.insert("over".into(), json!(0));
        let shrink = change(&[("a0", Value::Null), ("a1", Value::Null)]);
        assert_eq!(
            apply_change(&c, &shrink, &wf, &ctx())
                .unwrap()
                .case
                .fields
                .len(),
            99
        );
        assert!(apply_change(&c, &change(&[("a0", json!("longer"))]), &wf, &ctx()).is_err());
    }

    #[test]
    fn change_that_changes_nothing_keeps_the_version() {
        let wf = Workflow::default();
        let c = case_in(&wf, "Open", 0);
        let ch = CaseChange {
            status: Some(wf.parse("open").unwrap()),
            ..Default::default()
        };
        let a = apply_change(&c, &ch, &wf, &ctx()).unwrap();
        assert!(!a.changed());
        assert_eq!(a.case, c);
    }

    fn arb_change(wf: Workflow) -> impl Strategy<Value = CaseChange> {
        let statuses: Vec<Status> = wf.statuses().to_vec();
        (
            proptest::option::of(proptest::sample::select(statuses)),
            proptest::option::of("[a-z]{1,8}"),
            proptest::option::of(proptest::sample::select(Priority::ALL.to_vec())),
            proptest::option::of(proptest::option::of("[a-z]{1,5}")),
        )
            .prop_map(|(status, title, priority, assignee)| CaseChange {
                status,
                title,
                priority,
                assignee,
                ..Default::default()
            })
    }

    proptest! {
        #[test]
        fn every_applied_change_raises_version_by_one_and_is_recorded(
            start in 0usize..6,
            changes in proptest::collection::vec(arb_change(Workflow::default()), 1..40),
        ) {
            let wf = Workflow::default();
            let start = wf.statuses()[start].clone();
            let mut c = case_in(&wf, start.as_str(), 2);
            let mut log: Vec<HistoryRecord> = Vec::new();
            for ch in &changes {
                let before = c.clone();
                match apply_change(&c, ch, &wf, &ctx()) {
                    Ok(a) => {
                        if a.changed() {
                            prop_assert_eq!(a.case.version, before.version + 1);
                        } else {
                            prop_assert_eq!(&a.case, &before);
                        }
                        if wf.is_terminal(&before.status) {
                            prop_assert!(wf.allows(&before.status, &a.case.status));
                        }
                        if a.case.status != before.status {
                            prop_assert!(a.history.iter().any(|h| h.field == "status"));
                        }
                        log.extend(a.history.iter().cloned());
                        c = a.case;
                    }
                    Err(e) => {
                        prop_assert_eq!(e.code(), "invalid_transition");
                        prop_assert!(!wf.allows(&before.status, ch.status.as_ref().unwrap()));
                    }
                }
            }
            // Each version step has at least one history entry, and none exists without one.
            prop_assert!(log.len() as u64 >= c.version - 1);
        }

        #[test]
        fn a_terminal_case_only_leaves_by_an_allowed_transition(
            to in 0usize..8, terminal in proptest::bool::ANY,
        ) {
            let wf = Workflow::default();
            let from = if terminal { "Closed" } else { "Cancelled" };
            let c = case_in(&wf, from, 0);
            let to = wf.statuses()[to].clone();
            let ch = CaseChange { status: Some(to.clone()), ..Default::default() };
            let r = apply_change(&c, &ch, &wf, &ctx());
            prop_assert_eq!(r.is_ok(), to == c.status);
        }
    }
}
