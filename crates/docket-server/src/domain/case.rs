//! The case, a parsed change to it, and validation of the values a client may set.

use serde_json::{Map, Value};

use super::ids::{CaseId, parse_external_id};
use super::workflow::{Priority, Status, Workflow};
use super::{FieldError, Timestamp};

pub const MAX_TITLE: usize = 500;
pub const MAX_DESCRIPTION: usize = 20_000;
pub const MAX_REASON: usize = 1_000;
pub const MAX_ASSIGNEE: usize = 200;
pub const MAX_TAGS: usize = 50;
pub const MAX_TAG: usize = 64;
pub const MAX_FIELDS: usize = 100;
pub const MAX_FIELDS_BYTES: usize = 32 * 1024;
/// Longest custom field name, in characters.
pub const MAX_FIELD_NAME: usize = 64;
/// Longest text a case listing's `q` (title search) may be.
pub const MAX_TITLE_SEARCH: usize = 200;
/// Shortest title search: the title index works on trigrams, and a shorter text could
/// only be found by reading every case (0.5-0.75 s at 200,000 cases).
pub const MIN_TITLE_SEARCH: usize = 3;

/// A case as the store keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub id: CaseId,
    pub title: String,
    pub description: String,
    pub status: Status,
    pub status_reason: Option<String>,
    pub priority: Priority,
    pub assignee: Option<String>,
    pub tags: Vec<String>,
    pub fields: Map<String, Value>,
    pub open_tasks: u32,
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Its id in another system (unique when set).
    pub external_id: Option<String>,
    /// How many comments it has.
    pub comment_count: u32,
}

impl Case {
    /// A comment was written (`delta` 1) or deleted (-1) at `at`: `commentCount` is part
    /// of the case, so its version moves too.
    pub fn comments_moved(&mut self, delta: i64, at: Timestamp) {
        let n = i64::from(self.comment_count) + delta;
        self.comment_count = u32::try_from(n.max(0)).unwrap_or(u32::MAX);
        self.version += 1;
        self.updated_at = at;
    }

    /// A task was opened on the case at `at`: `openTasks` is part of the case, so its
    /// version moves too.
    pub fn task_opened(&mut self, at: Timestamp) {
        self.open_tasks_moved(1, at);
    }

    /// A task opened (`delta` 1) or closed (-1) at `at`; 0 leaves the case as it is.
    pub fn open_tasks_moved(&mut self, delta: i64, at: Timestamp) {
        if delta == 0 {
            return;
        }
        let n = i64::from(self.open_tasks) + delta;
        self.open_tasks = u32::try_from(n.max(0)).unwrap_or(u32::MAX);
        self.version += 1;
        self.updated_at = at;
    }
}

/// The values of a case to be created (its id may still be chosen by the store).
#[derive(Debug, Clone, PartialEq)]
pub struct NewCase {
    pub id: Option<CaseId>,
    pub title: String,
    pub description: String,
    pub status: Status,
    pub status_reason: Option<String>,
    pub priority: Priority,
    pub assignee: Option<String>,
    pub tags: Vec<String>,
    pub fields: Map<String, Value>,
    pub external_id: Option<String>,
}

impl NewCase {
    /// Parses and validates a create request against the workflow.
    pub fn parse(dto: docket_api::NewCase, wf: &Workflow) -> Result<Self, Vec<FieldError>> {
        let mut errs = Errors::default();
        let id = dto
            .case_id
            .as_deref()
            .and_then(|s| errs.check("caseId", CaseId::parse(s)));
        let title = match dto.title {
            Some(t) => errs.check("title", text(&t, 1, MAX_TITLE)),
            None => {
                errs.push("title", "is required");
                None
            }
        };
        let description = dto
            .description
            .map(|d| errs.check("description", text(&d, 0, MAX_DESCRIPTION)))
            .unwrap_or_else(|| Some(String::new()));
        let status = match dto.status {
            None => Some(wf.initial()),
            Some(s) => errs.check("status", wf.parse(&s)).and_then(|s| {
                if wf.is_terminal(&s) {
                    errs.push(
                        "status",
                        &format!("a case cannot be created in terminal status '{s}'"),
                    );
                    None
                } else {
                    Some(s)
                }
            }),
        };
        let status_reason = opt_text(&mut errs, "statusReason", dto.status_reason, MAX_REASON);
        let priority = dto
            .priority
            .map(|p| errs.check("priority", Priority::parse(&p)))
            .unwrap_or(Some(Priority::Medium));
        let assignee = opt_text(&mut errs, "assignee", dto.assignee, MAX_ASSIGNEE);
        let tags = errs.check("tags", parse_tags(dto.tags.unwrap_or_default()));
        let fields = errs.check("fields", parse_fields(dto.fields.unwrap_or_default()));
        let external_id = dto
            .external_id
            .and_then(|e| errs.check("externalId", parse_external_id(&e)));
        errs.finish()?;
        match (title, description, status, priority, tags, fields) {
            (
                Some(title),
                Some(description),
                Some(status),
                Some(priority),
                Some(tags),
                Some(fields),
            ) => Ok(Self {
                id,
                title,
                description,
                status,
                status_reason: status_reason.flatten(),
                priority,
                assignee: assignee.flatten(),
                tags,
                fields,
                external_id,
            }),
            _ => Err(vec![FieldError::new("body", "invalid case")]),
        }
    }

    /// The case this becomes once the store has given it an id and a time.
    pub fn into_case(self, id: CaseId, at: Timestamp) -> Case {
        Case {
            id,
            title: self.title,
            description: self.description,
            status: self.status,
            status_reason: self.status_reason,
            priority: self.priority,
            assignee: self.assignee,
            tags: self.tags,
            fields: self.fields,
            open_tasks: 0,
            version: 1,
            created_at: at,
            updated_at: at,
            external_id: self.external_id,
            comment_count: 0,
        }
    }
}

/// A parsed, validated partial change to a case. `None` leaves a field as it is; for the
/// nullable fields `Some(None)` clears it. `fields` merges, a `Null` value removing a key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaseChange {
    pub title: Option<String>,
    pub description: Option<String>,
    pub status: Option<Status>,
    pub status_reason: Option<Option<String>>,
    pub priority: Option<Priority>,
    pub assignee: Option<Option<String>>,
    pub tags: Option<Vec<String>>,
    pub fields: Option<Map<String, Value>>,
    pub expected_version: Option<u64>,
    /// Tags added to (then removed from) the case's own: an update item's operators
    /// (never with `tags`).
    pub tags_add: Vec<String>,
    pub tags_remove: Vec<String>,
    /// An update item's `if`.
    pub precondition: Option<super::precondition::Precondition>,
    /// `None` leaves it; `Some(None)` removes it.
    pub external_id: Option<Option<String>>,
    /// A revert's change: the workflow's transitions do not bind it (it restores a
    /// status the case had).
    pub restore: bool,
    /// A bulk item's comment, added with the change (as part of it: one version).
    pub comment: Option<super::NewComment>,
}

impl CaseChange {
    /// Parses and validates a PATCH body (or one bulk item's changes) against the workflow.
    pub fn parse(dto: docket_api::CasePatch, wf: &Workflow) -> Result<Self, Vec<FieldError>> {
        let mut errs = Errors::default();
        let title = dto
            .title
            .and_then(|t| errs.check("title", text(&t, 1, MAX_TITLE)));
        let description = dto
            .description
            .and_then(|d| errs.check("description", text(&d, 0, MAX_DESCRIPTION)));
        let status = dto.status.and_then(|s| errs.check("status", wf.parse(&s)));
        let status_reason = dto
            .status_reason
            .map(|r| opt_text(&mut errs, "statusReason", r, MAX_REASON).flatten());
        let priority = dto
            .priority
            .and_then(|p| errs.check("priority", Priority::parse(&p)));
        let assignee = dto
            .assignee
            .map(|a| opt_text(&mut errs, "assignee", a, MAX_ASSIGNEE).flatten());
        let tags = dto.tags.and_then(|t| errs.check("tags", parse_tags(t)));
        let fields = dto
            .fields
            .and_then(|f| errs.check("fields", check_fields_size(f)));
        let external_id = dto
            .external_id
            .map(|e| e.and_then(|e| errs.check("externalId", parse_external_id(&e))));
        // Versions are stored as 64-bit signed integers: a larger one names none.
        if dto
            .expected_version
            .is_some_and(|v| i64::try_from(v).is_err())
        {
            errs.push("expectedVersion", "must be at most 9223372036854775807");
        }
        errs.finish()?;
        Ok(Self {
            title,
            description,
            status,
            status_reason,
            priority,
            assignee,
            tags,
            fields,
            expected_version: dto.expected_version,
            external_id,
            ..Self::default()
        })
    }
}

#[derive(Default)]
struct Errors(Vec<FieldError>);

impl Errors {
    fn push(&mut self, field: &str, message: &str) {
        self.0.push(FieldError::new(field, message));
    }

    fn check<T>(&mut self, field: &str, r: Result<T, String>) -> Option<T> {
        r.map_err(|m| self.push(field, &m)).ok()
    }

    fn finish(self) -> Result<(), Vec<FieldError>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
    }
}

fn opt_text(
    errs: &mut Errors,
    field: &str,
    v: Option<String>,
    max: usize,
) -> Option<Option<String>> {
    match v {
        None => Some(None),
        Some(s) => errs
            .check(field, text(&s, 0, max))
            .map(|s| (!s.is_empty()).then_some(s)),
    }
}

/// Trims a text value and checks its length in characters: at most `max` as sent (what
/// the API description's `maxLength` says), at least `min` once trimmed.
fn text(s: &str, min: usize, max: usize) -> Result<String, String> {
    if s.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    let t = s.trim();
    if t.chars().count() < min {
        return Err("must not be empty".into());
    }
    if t.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err("must not contain control characters".into());
    }
    Ok(t.to_owned())
}

/// Tags: trimmed, non-empty, no duplicates (order kept), bounded.
pub fn parse_tags(tags: Vec<String>) -> Result<Vec<String>, String> {
    if tags.len() > MAX_TAGS {
        return Err(format!("at most {MAX_TAGS} tags"));
    }
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for t in tags {
        let t = text(&t, 1, MAX_TAG).map_err(|m| format!("tag {m}"))?;
        if t.contains(',') {
            return Err("a tag must not contain ','".into());
        }
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

fn check_fields_size(fields: Map<String, Value>) -> Result<Map<String, Value>, String> {
    if fields
        .keys()
        .any(|k| k.is_empty() || k.chars().count() > MAX_FIELD_NAME)
    {
        return Err("custom field names must be 1 to 64 characters".into());
    }
    fields_within_limits(&fields)?;
    Ok(fields)
}

/// The custom fields' count and size limits.
fn fields_within_limits(fields: &Map<String, Value>) -> Result<(), String> {
    if fields.len() > MAX_FIELDS {
        return Err(format!("at most {MAX_FIELDS} custom fields"));
    }
    if fields_size(fields) > MAX_FIELDS_BYTES {
        return Err(format!(
            "custom fields must serialize to at most {MAX_FIELDS_BYTES} bytes"
        ));
    }
    Ok(())
}

fn fields_size(fields: &Map<String, Value>) -> usize {
    serde_json::to_vec(fields)
        .map(|v| v.len())
        .unwrap_or(usize::MAX)
}

/// The limits hold for a case's merged fields, not only for each patch: a patch merges
/// into what is there, so ten patches of 100 keys would otherwise leave 1,000. A case
/// stored over a limit before it was checked here may still shrink: a change that
/// grows neither its key count nor its size is let through.
pub fn check_merged_fields(
    before: &Map<String, Value>,
    after: &Map<String, Value>,
) -> Result<(), String> {
    match fields_within_limits(after) {
        Ok(()) => Ok(()),
        Err(_) if after.len() <= before.len() && fields_size(after) <= fields_size(before) => {
            Ok(())
        }
        Err(e) => Err(format!("{e} once merged into the case's own")),
    }
}

/// Fields of a new case: as for a change, and `null` values are simply left out.
fn parse_fields(fields: Map<String, Value>) -> Result<Map<String, Value>, String> {
    let fields = check_fields_size(fields)?;
    Ok(fields.into_iter().filter(|(_, v)| !v.is_null()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_case_without_title_names_the_field() {
        let errs =
            NewCase::parse(docket_api::NewCase::default(), &Workflow::default()).unwrap_err();
        assert_eq!(errs[0].field, "title");
    }

    #[test]
    fn new_case_defaults_to_initial_status_and_medium_priority() {
        let dto = docket_api::NewCase {
            title: Some("  Printer on fire ".into()),
            ..Default::default()
        };
        let c = NewCase::parse(dto, &Workflow::default()).unwrap();
        assert_eq!(c.title, "Printer on fire");
        assert_eq!(c.status.as_str(), "New");
        assert_eq!(c.priority, Priority::Medium);
    }

    #[test]
    fn new_case_in_terminal_status_is_rejected() {
        let dto = docket_api::NewCase {
            title: Some("x".into()),
            status: Some("closed".into()),
            ..Default::default()
        };
        let errs = NewCase::parse(dto, &Workflow::default()).unwrap_err();
        assert_eq!(errs[0].field, "status");
    }

    #[test]
    fn change_collects_every_invalid_field() {
        let dto = docket_api::CasePatch {
            title: Some("".into()),
            priority: Some("urgent".into()),
            status: Some("Nowhere".into()),
            ..Default::default()
        };
        let errs = CaseChange::parse(dto, &Workflow::default()).unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["title", "status", "priority"]);
    }

    #[test]
    fn tags_are_trimmed_and_deduplicated() {
        assert_eq!(
            parse_tags(vec![" a".into(), "b".into(), "a".into()]).unwrap(),
            ["a", "b"]
        );
        assert!(parse_tags(vec!["".into()]).is_err());
    }
}
