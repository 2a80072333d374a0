//! A bulk item read as the change it asks for: both backends apply an item through
//! [`item_change`], so an item means the same whichever store runs the job; a filter
//! job's `set` is checked by the same rules ([`set_change`]) before the job exists.
//! Also the item operators: `tagsAdd`, `tagsRemove` and the precondition `if`.

use super::case::{CaseChange, MAX_TAGS, parse_tags};
use super::precondition::Precondition;
use super::{FieldError, ItemError, Workflow};

/// The code of an item of an atomic job left unapplied because another item failed.
pub const NOT_APPLIED: &str = docket_api::codes::NOT_APPLIED;

impl CaseChange {
    /// The case's tags after this change, given its tags now: `None` if the change
    /// leaves them alone, an error if they would be too many.
    pub fn tags_after(&self, now: &[String]) -> Option<Result<Vec<String>, String>> {
        if let Some(tags) = &self.tags {
            return Some(Ok(tags.clone()));
        }
        if self.tags_add.is_empty() && self.tags_remove.is_empty() {
            return None;
        }
        let mut out: Vec<String> = now.to_vec();
        for t in &self.tags_add {
            if !out.contains(t) {
                out.push(t.clone());
            }
        }
        out.retain(|t| !self.tags_remove.contains(t));
        if out.len() > MAX_TAGS {
            return Some(Err(format!(
                "at most {MAX_TAGS} tags; tagsAdd would make {}",
                out.len()
            )));
        }
        Some(Ok(out))
    }
}

/// Parses one stored bulk item into the change it asks for.
pub fn item_change(item: &str, wf: &Workflow) -> std::result::Result<CaseChange, ItemError> {
    let item: docket_api::BulkItem = serde_json::from_str(item)
        .map_err(|e| ItemError::Validation(vec![FieldError::new("item", &e.to_string())]))?;
    bulk_change(item, wf).map_err(ItemError::Validation)
}

/// Checks a filter job's `set` as an item would be checked: its errors name `set.*`.
pub fn set_change(set: &docket_api::BulkSet, wf: &Workflow) -> Result<CaseChange, Vec<FieldError>> {
    bulk_change(set.item(""), wf).map_err(|errs| {
        errs.into_iter()
            .map(|e| FieldError {
                field: format!("set.{}", e.field),
                ..e
            })
            .collect()
    })
}

/// An update item's changes, operators and precondition, validated.
fn bulk_change(item: docket_api::BulkItem, wf: &Workflow) -> Result<CaseChange, Vec<FieldError>> {
    let mut errs = Vec::new();
    if item.tags.is_some() && (item.tags_add.is_some() || item.tags_remove.is_some()) {
        errs.push(FieldError::new("tags", "not with tagsAdd or tagsRemove"));
    }
    let mut ops = |field: &str, tags: Option<Vec<String>>| match tags.map(parse_tags) {
        None => Vec::new(),
        Some(Ok(t)) => t,
        Some(Err(m)) => {
            errs.push(FieldError::new(field, &m));
            Vec::new()
        }
    };
    let tags_add = ops("tagsAdd", item.tags_add);
    let tags_remove = ops("tagsRemove", item.tags_remove);
    let precondition = item.precondition.map(|p| {
        let status = p.status.map(|names| {
            if names.is_empty() {
                errs.push(FieldError::new(
                    "if.status",
                    "must name at least one status",
                ));
            }
            names
                .iter()
                .filter_map(|n| {
                    wf.parse(n)
                        .map_err(|m| errs.push(FieldError::new("if.status", &m)))
                        .ok()
                })
                .collect()
        });
        Precondition {
            status,
            assignee: p.assignee,
        }
    });
    let comment = item.comment.and_then(|c| {
        super::NewComment::parse(c, "comment")
            .map_err(|e| errs.extend(e))
            .ok()
    });
    let patch = docket_api::CasePatch {
        status: item.status,
        status_reason: item.status_reason,
        priority: item.priority,
        assignee: item.assignee,
        tags: item.tags,
        fields: item.fields,
        expected_version: item.expected_version,
        ..Default::default()
    };
    match CaseChange::parse(patch, wf) {
        Ok(change) if errs.is_empty() => Ok(CaseChange {
            tags_add,
            tags_remove,
            precondition,
            comment,
            ..change
        }),
        Ok(_) => Err(errs),
        Err(more) => {
            errs.extend(more);
            Err(errs)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Case, CaseId, ChangeContext, Priority, Timestamp, apply_change};

    fn case(wf: &Workflow, status: &str, tags: &[&str], assignee: Option<&str>) -> Case {
        Case {
            id: CaseId::generated(7),
            title: "t".into(),
            description: String::new(),
            status: wf.parse(status).unwrap(),
            status_reason: None,
            priority: Priority::Low,
            assignee: assignee.map(str::to_owned),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            fields: serde_json::Map::new(),
            open_tasks: 0,
            comment_count: 0,
            version: 3,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
            external_id: None,
        }
    }

    fn ctx() -> ChangeContext<'static> {
        ChangeContext {
            actor: "t",
            at: Timestamp(5),
            job_id: None,
        }
    }

    #[test]
    fn tags_add_and_remove_change_only_the_tags_named() {
        let wf = Workflow::default();
        let c = case(&wf, "Open", &["vip", "old"], None);
        let ch = item_change(
            r#"{"caseId":"x","tagsAdd":["new","vip"],"tagsRemove":["old"]}"#,
            &wf,
        )
        .unwrap();
        let a = apply_change(&c, &ch, &wf, &ctx()).unwrap();
        assert_eq!(a.case.tags, ["vip", "new"]);
        assert_eq!(a.case.version, 4);
        // Adding a tag the case has, removing one it lacks: nothing changes.
        let ch = item_change(
            r#"{"caseId":"x","tagsAdd":["vip"],"tagsRemove":["gone"]}"#,
            &wf,
        )
        .unwrap();
        let a = apply_change(&c, &ch, &wf, &ctx()).unwrap();
        assert!(!a.changed());
        assert_eq!(a.case.version, 3);
    }

    #[test]
    fn tags_with_an_operator_and_too_many_tags_are_refused() {
        let wf = Workflow::default();
        let err = item_change(r#"{"caseId":"x","tags":["a"],"tagsAdd":["b"]}"#, &wf).unwrap_err();
        assert_eq!(err.code(), "validation_failed");
        let many: Vec<String> = (0..50).map(|i| format!("t{i}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let c = case(&wf, "Open", &refs, None);
        let ch = item_change(r#"{"caseId":"x","tagsAdd":["one-more"]}"#, &wf).unwrap();
        assert_eq!(
            apply_change(&c, &ch, &wf, &ctx()).unwrap_err().code(),
            "validation_failed"
        );
    }

    #[test]
    fn a_precondition_that_does_not_hold_fails_the_item_and_changes_nothing() {
        let wf = Workflow::default();
        let c = case(&wf, "In Progress", &[], Some("ann"));
        let item = |j: &str| item_change(j, &wf).unwrap();
        let ok = item(
            r#"{"caseId":"x","status":"Under Review","if":{"status":["in progress","Open"],"assignee":"ann"}}"#,
        );
        assert_eq!(
            apply_change(&c, &ok, &wf, &ctx())
                .unwrap()
                .case
                .status
                .as_str(),
            "Under Review"
        );
        for cond in [
            r#"{"status":["Open"]}"#,
            r#"{"assignee":"bob"}"#,
            r#"{"assignee":null}"#,
        ] {
            let ch = item(&format!(
                r#"{{"caseId":"x","status":"Under Review","if":{cond}}}"#
            ));
            let e = apply_change(&c, &ch, &wf, &ctx()).unwrap_err();
            assert_eq!(e.code(), "precondition_failed", "{cond}: {e}");
        }
        let unassigned = case(&wf, "Open", &[], None);
        let ch = item(r#"{"caseId":"x","priority":"High","if":{"assignee":null}}"#);
        assert!(
            apply_change(&unassigned, &ch, &wf, &ctx())
                .unwrap()
                .changed()
        );
        assert!(item_change(r#"{"caseId":"x","if":{"status":[]}}"#, &wf).is_err());
        assert!(item_change(r#"{"caseId":"x","if":{"status":["Nope"]}}"#, &wf).is_err());
    }

    #[test]
    fn a_sets_errors_name_its_fields() {
        let wf = Workflow::default();
        let set: docket_api::BulkSet =
            serde_json::from_str(r#"{"status":"Nope","tagsAdd":[""]}"#).unwrap();
        let errs = set_change(&set, &wf).unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert!(
            fields.contains(&"set.status") && fields.contains(&"set.tagsAdd"),
            "{fields:?}"
        );
    }
}
