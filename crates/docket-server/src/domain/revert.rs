//! Reverting a finished job: which jobs may be reverted, and the item that undoes the
//! job's change to one case, built from the history the job wrote. Both stores read the
//! job's succeeded items a page at a time and call [`revert_items`] on each page, so a
//! revert of a million-item job holds one page in memory, not the job.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::Job;

/// Items read per page of the job being reverted.
pub const REVERT_PAGE: i64 = 5_000;

/// Why a job cannot be reverted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevertRefusal {
    /// Still queued or running.
    NotFinished,
    /// A dry run changed nothing.
    DryRun,
    /// A bulk delete: a deleted case's history went with it.
    Deletion,
}

/// Whether `job` may be reverted.
pub fn revert_refusal(job: &Job) -> Option<RevertRefusal> {
    if !job.state.is_finished() {
        Some(RevertRefusal::NotFinished)
    } else if job.dry_run {
        Some(RevertRefusal::DryRun)
    } else if job.kind == super::JobKind::Delete {
        Some(RevertRefusal::Deletion)
    } else {
        None
    }
}

/// One succeeded item of the job being reverted: its case and the version it left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reverted {
    pub case_id: String,
    pub version: Option<i64>,
}

/// One history entry the job wrote: the case, the field and its value before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undo {
    pub case_id: String,
    pub field: String,
    /// The value before, as JSON text.
    pub from: String,
}

/// The revert's items for one page of the job's succeeded items (in index order):
/// `(caseId, item JSON)` for each case the job changed, the item a `PATCH` body (any
/// field a job may change: a bulk create's upsert changes title and description too)
/// setting every field it changed back to its value before the job (the first entry of each field, `history` being in
/// the order written), with `expectedVersion` the version the job left. A case with no
/// entry the job changed nothing, and is left out, unless it no longer exists
/// (`existing` lacks it): its history went with it, so its item names only the case and
/// fails `case_not_found`.
pub fn revert_items(
    page: &[Reverted],
    history: &[Undo],
    existing: &HashSet<String>,
) -> Vec<(String, String)> {
    let mut before: HashMap<&str, Map<String, Value>> = HashMap::new();
    for u in history {
        let fields = before.entry(u.case_id.as_str()).or_default();
        let value: Value = serde_json::from_str(&u.from).unwrap_or(Value::Null);
        match u.field.strip_prefix("fields.") {
            Some(name) => {
                let custom = fields
                    .entry("fields")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(m) = custom {
                    m.entry(name.to_owned()).or_insert(value);
                }
            }
            None => {
                fields.entry(u.field.clone()).or_insert(value);
            }
        }
    }
    let mut out = Vec::new();
    for r in page {
        let mut item = match before.remove(r.case_id.as_str()) {
            Some(fields) => fields,
            None if existing.contains(&r.case_id) => continue,
            None => Map::new(),
        };
        if let Some(v) = r.version {
            item.insert("expectedVersion".into(), Value::from(v));
        }
        out.push((r.case_id.clone(), Value::Object(item).to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn undo(case: &str, field: &str, from: &str) -> Undo {
        Undo {
            case_id: case.into(),
            field: field.into(),
            from: from.into(),
        }
    }

    #[test]
    fn a_revert_item_restores_each_changed_field_to_its_first_value_before_the_job() {
        let page = [
            Reverted {
                case_id: "A".into(),
                version: Some(4),
            },
            Reverted {
                case_id: "B".into(),
                version: Some(2),
            },
            Reverted {
                case_id: "GONE".into(),
                version: Some(7),
            },
        ];
        let history = [
            undo("A", "status", "\"In Progress\""),
            undo("A", "assignee", "null"),
            undo("A", "fields.region", "\"eu\""),
            undo("A", "fields.new", "null"),
            undo("A", "tags", "[\"vip\"]"),
        ];
        let existing: HashSet<String> = ["A".to_owned(), "B".to_owned()].into();
        let items = revert_items(&page, &history, &existing);
        // B was not changed by the job: no item. GONE was deleted: an item that fails.
        assert_eq!(items.len(), 2);
        let a: Value = serde_json::from_str(&items[0].1).unwrap();
        assert_eq!(
            a,
            serde_json::json!({"status": "In Progress", "assignee": null,
                "tags": ["vip"], "fields": {"region": "eu", "new": null}, "expectedVersion": 4})
        );
        let item: docket_api::CasePatch = serde_json::from_value(a).unwrap();
        assert_eq!(item.assignee, Some(None));
        assert_eq!(items[1], ("GONE".into(), r#"{"expectedVersion":7}"#.into()));
        // A bulk create's upsert changes a title: its revert puts it back.
        let page = [Reverted {
            case_id: "C".into(),
            version: Some(2),
        }];
        let title = [
            undo("C", "title", "\"Old\""),
            undo("C", "description", "\"\""),
        ];
        let c: docket_api::CasePatch =
            serde_json::from_str(&revert_items(&page, &title, &existing)[0].1).unwrap();
        assert_eq!(
            (c.title.as_deref(), c.description.as_deref()),
            (Some("Old"), Some(""))
        );
    }
}
