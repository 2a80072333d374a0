//! Records of the job methods of the engine and the store: submitting, running chunks,
//! results, callbacks.

use super::query::CommitSeq;
use super::{ItemOutcome, Job, Timestamp};

/// A job to store, with all its items, in one transaction.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub id: String,
    pub kind: super::JobKind,
    /// `(caseId, item JSON)` in request order. An item stored as `""` applies
    /// `template`.
    pub items: JobItems,
    /// A job by filter: its items are the cases matching at submit time, in creation
    /// order, each applying `template` (`items` is then empty).
    pub by_filter: Option<ByFilter>,
    /// The item JSON of every item stored as `""`: a filter job's `set`.
    pub template: Option<String>,
    pub dry_run: bool,
    pub revert_of: Option<String>,
    /// A bulk create's `upsertBy` (`externalId`).
    pub upsert_by: Option<String>,
    pub atomic: bool,
    pub callback_url: Option<String>,
    pub parent_id: Option<String>,
    /// `(key, hash of the request body)`.
    pub idempotency: Option<(String, String)>,
    pub actor: String,
    pub created_at: Timestamp,
}

/// A new job's items: listed, or spooled as its request arrived (see [`crate::spool`]).
#[derive(Debug, Clone)]
pub enum JobItems {
    Listed(Vec<(String, String)>),
    Spooled(std::sync::Arc<crate::spool::ItemSpool>),
}

impl JobItems {
    pub fn len(&self) -> u64 {
        match self {
            Self::Listed(items) => items.len() as u64,
            Self::Spooled(spool) => spool.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Calls `store` with the items in batches of at most `n`, with each batch's first
    /// index.
    pub fn in_batches<E: From<std::io::Error>>(
        &self,
        n: usize,
        mut store: impl FnMut(i64, &[(String, String)]) -> Result<(), E>,
    ) -> Result<(), E> {
        match self {
            Self::Listed(items) => {
                for (k, batch) in items.chunks(n).enumerate() {
                    store((k * n) as i64, batch)?;
                }
            }
            Self::Spooled(spool) => {
                let mut reader = spool.reader()?;
                let mut first = 0;
                loop {
                    let batch = reader.batch(n)?;
                    if batch.is_empty() {
                        break;
                    }
                    store(first, &batch)?;
                    first += batch.len() as i64;
                }
            }
        }
        Ok(())
    }
}

impl FromIterator<(String, String)> for JobItems {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(items: I) -> Self {
        Self::Listed(items.into_iter().collect())
    }
}

impl From<Vec<(String, String)>> for JobItems {
    fn from(items: Vec<(String, String)>) -> Self {
        Self::Listed(items)
    }
}

/// The items of a job by filter, chosen in the submitting transaction.
#[derive(Debug, Clone)]
pub struct ByFilter {
    pub filter: super::CaseFilter,
    /// More matches than this refuse the job ([`Submitted::TooManyMatches`]).
    pub max: u32,
    /// Another number of matches refuses the job ([`Submitted::CountMismatch`]).
    pub expected: Option<u64>,
}

/// A page of the job list, newest first: one state (or all), before a `seq`, at most
/// `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobsPage {
    pub state: Option<super::JobState>,
    pub before: Option<i64>,
    pub limit: u32,
}

/// A page of a job's results: one outcome (or all), after an index, at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResultsPage {
    pub outcome: Option<super::ItemOutcome>,
    pub after: Option<i64>,
    pub limit: u32,
}

/// Who makes a job and when, under which id: what the engine decides for a job the
/// store derives from another (a retry).
#[derive(Debug, Clone)]
pub struct JobOrigin {
    pub id: String,
    pub actor: String,
    pub created_at: Timestamp,
}

impl NewJob {
    /// The retry of `job`: its `items` again, atomic and called back as it was, with
    /// `job` as its parent (and its `template`, which items stored as `""` apply).
    pub fn retry_of(
        job: &super::Job,
        origin: JobOrigin,
        items: Vec<(String, String)>,
        (template, upsert_by): (Option<String>, Option<String>),
    ) -> Self {
        Self {
            id: origin.id,
            kind: job.kind,
            items: items.into(),
            by_filter: None,
            template,
            dry_run: job.dry_run,
            // A revert's retry restores as the revert did; an upsert's retry upserts.
            revert_of: job.revert_of.clone(),
            upsert_by,
            atomic: job.atomic,
            callback_url: job.callback_url.clone(),
            parent_id: Some(job.id.clone()),
            idempotency: None,
            actor: origin.actor,
            created_at: origin.created_at,
        }
    }
}

impl NewJob {
    /// The revert of `job`: its items are added by the store, from `job`'s history.
    pub fn revert_of(job: &super::Job, origin: JobOrigin) -> Self {
        Self {
            id: origin.id,
            kind: super::JobKind::Update,
            items: JobItems::Listed(Vec::new()),
            by_filter: None,
            template: None,
            dry_run: false,
            revert_of: Some(job.id.clone()),
            upsert_by: None,
            atomic: false,
            callback_url: None,
            parent_id: None,
            idempotency: None,
            actor: origin.actor,
            created_at: origin.created_at,
        }
    }
}

/// Limits checked inside the submitting transaction.
#[derive(Debug, Clone, Copy)]
pub struct SubmitLimits {
    /// Unprocessed items of unfinished jobs, this one included, may not exceed this.
    pub max_queued_items: u64,
    /// Idempotency keys older than this are forgotten.
    pub idempotency_since: Timestamp,
}

#[derive(Debug, Clone)]
pub enum Submitted {
    Created(Job),
    /// Same key, same body: the original job; nothing was created.
    Replayed(Job),
    /// Same key, different body.
    KeyReused,
    /// Unprocessed items already queued.
    QueueFull {
        queued: u64,
    },
    /// A job by filter matched more than its `max` cases.
    TooManyMatches {
        max: u32,
    },
    /// A job by filter matched `count` cases, not the number expected.
    CountMismatch {
        count: u64,
    },
}

/// A worker's claim on a job for one chunk.
#[derive(Clone)]
pub struct Claim {
    pub owner: String,
    pub now: Timestamp,
    pub lease_until: Timestamp,
    pub chunk_size: u32,
    /// SQLite: how long a chunk may go on to the job's next ones while no write waits.
    pub group: std::time::Duration,
    /// Whether the chunk that processes a job's last item may also mark it `completed`,
    /// in the same transaction, instead of leaving that to [`super::Store::finish_job`].
    pub finish: FinishDrained,
    /// Called inside the chunk's transaction, just before its commit, with the cases it
    /// changed: this node drops them from its cache there, so nothing that can see the
    /// commit (a `completed` status included) can still find them cached.
    pub before_commit: Option<BeforeCommit>,
    /// The engine's clock, for the end time of a job its last chunk completes (after
    /// its items, not when the chunk began): a store reads no clock of its own.
    pub clock: Now,
}

impl std::fmt::Debug for Claim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claim")
            .field("owner", &self.owner)
            .field("now", &self.now)
            .field("lease_until", &self.lease_until)
            .field("chunk_size", &self.chunk_size)
            .field("group", &self.group)
            .field("finish", &self.finish)
            .finish_non_exhaustive()
    }
}

/// See [`Claim::before_commit`].
/// A clock handed to a store (see [`Claim::clock`]).
pub type Now = std::sync::Arc<dyn Fn() -> Timestamp + Send + Sync>;

pub type BeforeCommit = std::sync::Arc<dyn Fn(&[String], CommitSeq) + Send + Sync>;

/// When a drained job may be completed by its last chunk's transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinishDrained {
    /// Never: completion waits for something after the commit (a deferred sweep, other
    /// nodes' invalidations).
    Never,
    /// Always: nothing but this node's cache needs the change first.
    Always,
    /// Only if no node but `node` has a heartbeat in the last `ttl_ms` by the store's
    /// clock (checked in the transaction): otherwise their caches must confirm the
    /// change first.
    IfAlone { node: String, ttl_ms: i64 },
}

/// What one chunk step did.
#[derive(Debug, Clone, PartialEq)]
pub enum ChunkResult {
    /// Another worker holds the job, or it has finished.
    NotClaimed,
    /// Items applied in one transaction; `changed` are the cases whose rows changed.
    Applied {
        processed: u64,
        changed: Vec<String>,
        commit: CommitSeq,
        /// This chunk processed the job's last items: it is ready for
        /// [`super::Store::finish_job`] without another claim.
        drained: bool,
    },
    /// Every item is processed; the job waits for [`super::Store::finish_job`].
    Drained,
    /// The job ended in this step (cancelled, or an atomic job failed).
    Ended(Job),
}

/// One item's result as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemRecord {
    pub index: u64,
    pub case_id: String,
    pub outcome: ItemOutcome,
    pub error: Option<(String, String)>,
    pub version: Option<u64>,
    /// A bulk create's item: `created` or `updated`.
    pub action: Option<String>,
}

impl ItemRecord {
    /// An item as both stores keep it: index, case id, outcome (none yet: read as
    /// cancelled, for the items a cancelled job never reached), error code and detail,
    /// and the case's version after the item.
    pub fn from_columns(
        idx: i64,
        case_id: String,
        outcome: Option<String>,
        code: Option<String>,
        detail: Option<String>,
        version: Option<i64>,
    ) -> Self {
        Self {
            index: u64::try_from(idx).unwrap_or(0),
            case_id,
            outcome: outcome
                .and_then(|o| o.parse().ok())
                .unwrap_or(ItemOutcome::Cancelled),
            error: code.map(|c| (c, detail.unwrap_or_default())),
            version: version.map(|v| u64::try_from(v).unwrap_or(0)),
            action: None,
        }
    }
}

#[derive(Debug, Clone)]
pub enum JobChange {
    NotFound,
    /// The job is not finished (for retry and delete) or already finished (cancel).
    WrongState(Job),
    /// Nothing to retry.
    NothingToDo(Job),
    Done(Job),
}

/// A callback delivery due to be sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: String,
    pub job_id: String,
    pub url: String,
    pub event: String,
    pub attempts: u32,
    pub created_at: Timestamp,
}

/// One attempt at a delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub at: Timestamp,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// A delivery with its attempts, for `GET /jobs/{id}/callbacks`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryView {
    pub id: String,
    pub url: String,
    pub event: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub next_attempt_at: Option<Timestamp>,
    pub attempts: Vec<Attempt>,
}

/// A `callback_deliveries` row as both stores select it: `delivery_id, url, event,
/// state, next_attempt_at`.
pub type DeliveryRow = (String, String, String, String, Option<i64>);

/// A `callback_attempts` row as both stores select it: `at, status_code, error,
/// duration_ms`.
pub type AttemptRow = (i64, Option<i64>, Option<String>, i64);

impl DeliveryView {
    /// A delivery from its row and its attempts' rows (oldest first). Only a pending
    /// delivery has a next attempt.
    pub fn from_rows(row: DeliveryRow, attempts: Vec<AttemptRow>) -> Self {
        let (id, url, event, state, next) = row;
        let attempts = attempts
            .into_iter()
            .map(|(at, code, error, ms)| Attempt {
                at: Timestamp(at),
                status_code: code.and_then(|c| u16::try_from(c).ok()),
                error,
                duration_ms: u64::try_from(ms).unwrap_or(0),
            })
            .collect();
        let next_attempt_at = if state == "pending" {
            next.map(Timestamp)
        } else {
            None
        };
        Self {
            id,
            url,
            event,
            state,
            next_attempt_at,
            attempts,
        }
    }
}
