//! A stored bulk item read back as the change it asks for: both backends apply an item
//! through [`item_change`], so an item means the same whichever store runs the job.

use super::{CaseChange, FieldError, ItemError, Workflow};

/// The code of an item of an atomic job left unapplied because another item failed.
pub const NOT_APPLIED: &str = docket_api::codes::NOT_APPLIED;

/// Parses one stored bulk item into the change it asks for (shared by both backends, so
/// an item means the same thing whichever store applies it).
pub fn item_change(item: &str, wf: &Workflow) -> std::result::Result<CaseChange, ItemError> {
    let item: docket_api::BulkItem = serde_json::from_str(item)
        .map_err(|e| ItemError::Validation(vec![FieldError::new("item", &e.to_string())]))?;
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
    CaseChange::parse(patch, wf).map_err(ItemError::Validation)
}
