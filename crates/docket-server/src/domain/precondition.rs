//! An update item's precondition (`if`): what a case must be for the item to change it.

use super::ids::CaseId;
use super::workflow::Status;

/// An update item's `if`: every condition given must hold for the case to change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Precondition {
    /// The case is in one of these.
    pub status: Option<Vec<Status>>,
    /// The case is assigned to exactly this (`None`: to no one).
    pub assignee: Option<Option<String>>,
}

impl Precondition {
    /// Why case `id`, in `status` and assigned to `assignee`, does not satisfy the
    /// precondition; `None` when it does.
    pub fn refuses(
        &self,
        id: &CaseId,
        status: &Status,
        assignee: &Option<String>,
    ) -> Option<String> {
        if let Some(statuses) = &self.status {
            if !statuses.contains(status) {
                let names: Vec<&str> = statuses.iter().map(Status::as_str).collect();
                return Some(format!("case {id} is {status}, not {}", names.join(" or ")));
            }
        }
        if let Some(wanted) = &self.assignee {
            if assignee != wanted {
                let name = |a: &Option<String>| {
                    a.as_deref()
                        .map_or("no one".to_owned(), |n| format!("'{n}'"))
                };
                return Some(format!(
                    "case {id} is assigned to {}, not {}",
                    name(assignee),
                    name(wanted)
                ));
            }
        }
        None
    }
}
