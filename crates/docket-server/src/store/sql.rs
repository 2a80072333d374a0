//! The pieces of SQL text both backends share: the dialect a query is written in and the
//! values bound to its placeholders ([`super::case_list`] and [`super::title_search`]
//! build their queries from them).

/// The SQL flavour a query is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    pub(super) fn placeholder(self, n: usize) -> String {
        match self {
            Self::Sqlite => format!("?{n}"),
            Self::Postgres => format!("${n}"),
        }
    }

    /// Case-insensitive LIKE: SQLite's `LIKE` already ignores ASCII case.
    pub(super) fn ilike(self) -> &'static str {
        match self {
            Self::Sqlite => "LIKE",
            Self::Postgres => "ILIKE",
        }
    }
}

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param {
    Int(i64),
    Text(String),
}

/// A query and its parameters, `params[i]` bound to placeholder `i + 1`.
#[derive(Debug, Clone)]
pub struct ListSql {
    pub sql: String,
    pub params: Vec<Param>,
}

/// The condition on `job_items` that shows `shown` (the same text on both backends).
pub fn results_where(shown: crate::domain::rules::ResultsShown) -> &'static str {
    use crate::domain::ItemOutcome;
    use crate::domain::rules::ResultsShown;
    match shown {
        ResultsShown::All => "TRUE",
        ResultsShown::Processed => "outcome IS NOT NULL",
        ResultsShown::CancelledOrUnreached => "(outcome IS NULL OR outcome = 'cancelled')",
        ResultsShown::Outcome(ItemOutcome::Cancelled) => "outcome = 'cancelled'",
        ResultsShown::Outcome(ItemOutcome::Failed) => "outcome = 'failed'",
        ResultsShown::Outcome(ItemOutcome::Succeeded) => "outcome = 'succeeded'",
    }
}
