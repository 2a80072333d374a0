//! What crosses between the engine and a store besides the domain's own types: commit
//! positions, case listings (filter, order, position, page), who writes, and the store's
//! figures for `/metrics`. Plain data: the store fills it, the engine and HTTP read it.

use super::{Applied, Case, JobState, NewTask, Status, Timestamp};

/// A point in the store's commit order; every write returns the one it committed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CommitSeq(pub i64);

impl CommitSeq {
    /// The opaque token clients see in `X-Consistency-Token`.
    pub fn token(self) -> String {
        format!("c{}", self.0)
    }

    /// A token as writes hand it out (`c42`), or a change feed position (`42`): both
    /// name a point in the commit order.
    pub fn parse_token(s: &str) -> Option<Self> {
        let digits = s.strip_prefix('c').unwrap_or(s);
        if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok().map(Self)
    }
}

/// Filters, order and paging for listing cases. Every filter given must hold.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub status: Option<Status>,
    pub assignee: Option<String>,
    pub tag: Option<String>,
    pub updated_since: Option<Timestamp>,
    /// Last changed strictly before this time.
    pub updated_before: Option<Timestamp>,
    /// Only the case with this `externalId`.
    pub external_id: Option<String>,
    /// Text the title contains, ignoring (at least ASCII) case; matched literally, LIKE
    /// metacharacters included. `None` or empty: no filter.
    pub title_contains: Option<String>,
    pub sort: CaseSort,
    /// Start strictly after this position of `sort`'s order (the previous page's last
    /// case). A position of another order is refused as `Other`.
    pub after: Option<CasePosition>,
    pub limit: u32,
}

/// A page of results and the position to continue after (`P`: a position in the
/// listing's order; most listings page by one integer key).
#[derive(Debug, Clone)]
pub struct Paged<T, P = i64> {
    pub items: Vec<T>,
    pub next: Option<P>,
}

/// Who writes and when.
#[derive(Debug, Clone)]
pub struct Actor {
    pub name: String,
    pub at: Timestamp,
}

impl Actor {
    /// The context of a change this actor makes directly (not through a job).
    pub fn context(&self) -> super::ChangeContext<'_> {
        super::ChangeContext {
            actor: &self.name,
            at: self.at,
            job_id: None,
        }
    }
}

/// A case with its tasks, for bulk imports (`docket seed`).
#[derive(Debug, Clone)]
pub struct ImportCase {
    pub case: Case,
    pub tasks: Vec<NewTask>,
}

/// A case update as the store answers it: the update, or why the domain refused it.
pub type CaseUpdate = std::result::Result<Updated, super::ItemError>;

/// A task update as the store answers it: the task and its commit, or why it was refused.
pub type TaskUpdate = std::result::Result<(super::Task, CommitSeq), super::ItemError>;

/// The result of a synchronous single-case update.
#[derive(Debug, Clone)]
pub struct Updated {
    pub applied: Applied,
    pub commit: CommitSeq,
}

/// The order of a case listing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum CaseSort {
    /// Creation order (`seq`), oldest first.
    #[default]
    CreatedAt,
    /// Creation order, newest first.
    CreatedAtDesc,
    /// `(updated_at, seq)`, least recently changed first.
    UpdatedAt,
    /// `(updated_at, seq)`, most recently changed first.
    UpdatedAtDesc,
}

impl CaseSort {
    pub const ALL: [CaseSort; 4] = [
        Self::CreatedAt,
        Self::CreatedAtDesc,
        Self::UpdatedAt,
        Self::UpdatedAtDesc,
    ];

    pub fn descending(self) -> bool {
        matches!(self, Self::CreatedAtDesc | Self::UpdatedAtDesc)
    }

    /// Whether the order is by `updated_at` (then `seq`) rather than `seq` alone.
    pub fn by_updated(self) -> bool {
        matches!(self, Self::UpdatedAt | Self::UpdatedAtDesc)
    }

    /// The position of a case (stored as `seq`) in this order.
    pub fn position(self, seq: i64, case: &Case) -> CasePosition {
        if self.by_updated() {
            CasePosition::Updated(case.updated_at, seq)
        } else {
            CasePosition::Created(seq)
        }
    }
}

impl From<docket_api::CaseSort> for CaseSort {
    fn from(s: docket_api::CaseSort) -> Self {
        match s {
            docket_api::CaseSort::CreatedAt => Self::CreatedAt,
            docket_api::CaseSort::CreatedAtDesc => Self::CreatedAtDesc,
            docket_api::CaseSort::UpdatedAt => Self::UpdatedAt,
            docket_api::CaseSort::UpdatedAtDesc => Self::UpdatedAtDesc,
        }
    }
}

impl From<CaseSort> for docket_api::CaseSort {
    fn from(s: CaseSort) -> Self {
        match s {
            CaseSort::CreatedAt => Self::CreatedAt,
            CaseSort::CreatedAtDesc => Self::CreatedAtDesc,
            CaseSort::UpdatedAt => Self::UpdatedAt,
            CaseSort::UpdatedAtDesc => Self::UpdatedAtDesc,
        }
    }
}

/// A case's key in a listing's order: where the next page starts (exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CasePosition {
    /// `seq`, in the createdAt orders.
    Created(i64),
    /// `(updated_at, seq)`, in the updatedAt orders.
    Updated(Timestamp, i64),
}

impl CasePosition {
    /// Whether this is a position in `sort`'s order.
    pub fn fits(self, sort: CaseSort) -> bool {
        matches!(self, Self::Updated(..)) == sort.by_updated()
    }
}

/// Jobs by state and the queue depth, for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct JobStats {
    pub by_state: Vec<(JobState, u64)>,
    pub queued_items: u64,
}

impl JobStats {
    /// From `(state, jobs, items left)` per state, as both stores count them; a state
    /// docket does not know is left out.
    pub fn from_counts(rows: impl IntoIterator<Item = (String, i64, i64)>) -> Self {
        let mut stats = Self::default();
        for (state, n, left) in rows {
            let Ok(state) = state.parse::<JobState>() else {
                continue;
            };
            if !state.is_finished() {
                stats.queued_items += u64::try_from(left).unwrap_or(0);
            }
            stats.by_state.push((state, u64::try_from(n).unwrap_or(0)));
        }
        stats
    }
}

/// A store's connections.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolStats {
    pub in_use: u64,
    pub idle: u64,
    /// The most the store opens, when it has a bound.
    pub max: Option<u64>,
}
