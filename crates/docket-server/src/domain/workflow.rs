//! Statuses and the workflow that says which status may follow which.
//!
//! A [`Workflow`] is built once from configuration and checked for consistency: every
//! status named in transitions or the terminal set exists, the initial status is not
//! terminal, and a terminal status has no way out unless the configuration says so.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::{Deserialize, Serialize};

/// A status name as the workflow spells it (canonical case).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Status(String);

impl Status {
    /// A status read back from the store, trusted as written (the workflow validated it
    /// on the way in; a later workflow change does not rewrite stored cases).
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Case priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Priority {
    Low,
    Medium,
    High,
    Critical,
}

impl Priority {
    pub const ALL: [Priority; 4] = [Self::Low, Self::Medium, Self::High, Self::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "Low",
            Self::Medium => "Medium",
            Self::High => "High",
            Self::Critical => "Critical",
        }
    }

    /// Parses a priority name, case-insensitively.
    pub fn parse(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!("unknown priority '{s}' (expected Low, Medium, High or Critical)")
            })
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The workflow as written in the configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowConfig {
    /// Status of a case created without one.
    pub initial: String,
    /// Every status, in display order.
    pub statuses: Vec<String>,
    /// Statuses a case never leaves (unless `transitions` lists a way out).
    pub terminal: Vec<String>,
    /// For each status, the statuses it may move to.
    pub transitions: BTreeMap<String, Vec<String>>,
}

impl Default for WorkflowConfig {
    fn default() -> Self {
        let t = |from: &str, to: &[&str]| {
            (
                from.to_owned(),
                to.iter().map(|s| (*s).to_owned()).collect(),
            )
        };
        Self {
            initial: "New".into(),
            statuses: [
                "New",
                "Open",
                "In Progress",
                "Under Review",
                "Pending",
                "Resolved",
                "Closed",
                "Cancelled",
            ]
            .map(String::from)
            .into(),
            terminal: vec!["Closed".into(), "Cancelled".into()],
            transitions: BTreeMap::from([
                t("New", &["Open", "In Progress", "Pending", "Cancelled"]),
                t(
                    "Open",
                    &[
                        "In Progress",
                        "Under Review",
                        "Pending",
                        "Resolved",
                        "Closed",
                        "Cancelled",
                    ],
                ),
                t(
                    "In Progress",
                    &[
                        "Open",
                        "Under Review",
                        "Pending",
                        "Resolved",
                        "Closed",
                        "Cancelled",
                    ],
                ),
                t(
                    "Under Review",
                    &["In Progress", "Pending", "Resolved", "Closed", "Cancelled"],
                ),
                t(
                    "Pending",
                    &[
                        "Open",
                        "In Progress",
                        "Under Review",
                        "Resolved",
                        "Cancelled",
                    ],
                ),
                t("Resolved", &["In Progress", "Closed"]),
            ]),
        }
    }
}

/// A validated workflow.
#[derive(Debug, Clone)]
pub struct Workflow {
    statuses: Vec<Status>,
    by_lower: HashMap<String, usize>,
    initial: usize,
    terminal: Vec<bool>,
    /// `allowed[from][to]`.
    allowed: Vec<Vec<bool>>,
}

impl Default for Workflow {
    fn default() -> Self {
        #[allow(clippy::expect_used)]
        Self::new(&WorkflowConfig::default()).expect("the default workflow is valid")
    }
}

impl Workflow {
    /// Builds a workflow, rejecting one that names unknown statuses.
    pub fn new(cfg: &WorkflowConfig) -> Result<Self, String> {
        if cfg.statuses.is_empty() {
            return Err("workflow.statuses must not be empty".into());
        }
        let mut by_lower = HashMap::new();
        let mut statuses = Vec::new();
        for (i, s) in cfg.statuses.iter().enumerate() {
            let name = s.trim();
            if name.is_empty() || name.len() > 64 {
                return Err(format!("workflow status '{s}' must be 1 to 64 characters"));
            }
            if by_lower.insert(name.to_lowercase(), i).is_some() {
                return Err(format!("workflow status '{s}' is listed twice"));
            }
            statuses.push(Status(name.to_owned()));
        }
        let index = |s: &str, what: &str| {
            by_lower
                .get(&s.trim().to_lowercase())
                .copied()
                .ok_or_else(|| format!("{what} names unknown status '{s}'"))
        };
        let n = statuses.len();
        let mut terminal = vec![false; n];
        for s in &cfg.terminal {
            terminal[index(s, "workflow.terminal")?] = true;
        }
        let initial = index(&cfg.initial, "workflow.initial")?;
        if terminal[initial] {
            return Err(format!(
                "workflow.initial '{}' must not be terminal",
                cfg.initial
            ));
        }
        let mut allowed = vec![vec![false; n]; n];
        for (from, tos) in &cfg.transitions {
            let f = index(from, "workflow.transitions")?;
            for to in tos {
                allowed[f][index(to, "workflow.transitions")?] = true;
            }
        }
        Ok(Self {
            statuses,
            by_lower,
            initial,
            terminal,
            allowed,
        })
    }

    /// Parses a status name case-insensitively into its canonical form.
    pub fn parse(&self, s: &str) -> Result<Status, String> {
        self.by_lower
            .get(&s.trim().to_lowercase())
            .map(|&i| self.statuses[i].clone())
            .ok_or_else(|| {
                let names: Vec<&str> = self.statuses.iter().map(Status::as_str).collect();
                format!(
                    "unknown status '{s}' (expected one of: {})",
                    names.join(", ")
                )
            })
    }

    fn idx(&self, s: &Status) -> Option<usize> {
        self.by_lower.get(&s.0.to_lowercase()).copied()
    }

    pub fn initial(&self) -> Status {
        self.statuses[self.initial].clone()
    }

    pub fn statuses(&self) -> &[Status] {
        &self.statuses
    }

    pub fn is_terminal(&self, s: &Status) -> bool {
        self.idx(s).is_some_and(|i| self.terminal[i])
    }

    /// Whether a case may move from `from` to `to`. Staying put is always allowed.
    pub fn allows(&self, from: &Status, to: &Status) -> bool {
        if from == to {
            return true;
        }
        match (self.idx(from), self.idx(to)) {
            (Some(f), Some(t)) => self.allowed[f][t],
            _ => false,
        }
    }

    /// Statuses a case may be created in: every non-terminal one.
    pub fn non_terminal(&self) -> impl Iterator<Item = &Status> {
        self.statuses
            .iter()
            .zip(&self.terminal)
            .filter(|(_, t)| !**t)
            .map(|(s, _)| s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_parse_case_insensitively_to_canonical_names() {
        let wf = Workflow::default();
        assert_eq!(wf.parse("under review").unwrap().as_str(), "Under Review");
        assert_eq!(wf.parse(" IN PROGRESS ").unwrap().as_str(), "In Progress");
        assert!(wf.parse("Done").is_err());
    }

    #[test]
    fn default_workflow_has_terminal_closed_and_cancelled_and_reopens_resolved() {
        let wf = Workflow::default();
        let s = |n: &str| wf.parse(n).unwrap();
        assert!(wf.is_terminal(&s("Closed")));
        assert!(wf.is_terminal(&s("Cancelled")));
        assert!(!wf.is_terminal(&s("Resolved")));
        assert!(wf.allows(&s("In Progress"), &s("Under Review")));
        assert!(wf.allows(&s("Resolved"), &s("In Progress")));
        assert!(!wf.allows(&s("Closed"), &s("Open")));
        assert!(!wf.allows(&s("New"), &s("Resolved")));
    }

    #[test]
    fn workflow_naming_unknown_status_is_rejected() {
        let mut cfg = WorkflowConfig::default();
        cfg.transitions
            .insert("Open".into(), vec!["Nowhere".into()]);
        assert!(Workflow::new(&cfg).unwrap_err().contains("Nowhere"));
        let cfg = WorkflowConfig {
            initial: "Closed".into(),
            ..Default::default()
        };
        assert!(Workflow::new(&cfg).is_err());
    }

    #[test]
    fn priorities_parse_case_insensitively() {
        assert_eq!(Priority::parse("critical").unwrap(), Priority::Critical);
        assert!(Priority::parse("urgent").is_err());
    }
}
