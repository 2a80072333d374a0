//! The change feed as the API serves it: a page of changes after a cursor, long-polled
//! until a change commits (woken by this node's commits and, in a cluster, by the
//! signal every change-recording commit sends; never by polling the store), and its
//! retention.
//!
//! **Architecture invariant.** A change is readable only once every change at a lower
//! position is: positions are taken in commit order (one writer on SQLite; on
//! PostgreSQL the commit counter's row lock, held from `next_commit` to the commit), so
//! a reader that passed a position never sees a change appear behind it.

use std::time::Duration;

use tokio::sync::watch;

use super::Engine;
use crate::domain::Timestamp;
use crate::domain::feed::{After, FeedQuery};
use crate::store;

/// One page of the feed: `(position, body)` in position order, and the cursor for the
/// next call (the last item's position, or the position the read started after).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedPage {
    pub items: Vec<(i64, String)>,
    pub next_after: i64,
}

/// Why the feed could not answer.
#[derive(Debug)]
pub enum FeedError {
    /// The cursor is older than the oldest change kept: changes after it are gone.
    Expired {
        purged_through: i64,
    },
    /// The cursor is past the newest commit: no change has that position, so a reader
    /// holding it would pass over the changes that get it.
    Ahead {
        head: i64,
    },
    Store(store::Error),
}

impl From<store::Error> for FeedError {
    fn from(e: store::Error) -> Self {
        Self::Store(e)
    }
}

/// A read of the feed as a caller asks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangesRequest {
    pub after: After,
    pub limit: u32,
    pub kinds: Vec<&'static str>,
    pub case_id: Option<String>,
}

impl Engine {
    /// Wakes the feed's waiters on this node: a commit recorded changes.
    pub fn feed_moved(&self) {
        self.feed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Moves whenever changes may have been recorded (for event streams).
    pub fn feed_watch(&self) -> watch::Receiver<u64> {
        self.feed.subscribe()
    }

    /// The position a read of the feed starts after.
    pub async fn feed_start(&self, after: After) -> store::Result<i64> {
        match after {
            After::Position(p) => Ok(p),
            After::Now => Ok(self.store.current_commit().await?.0),
            // The oldest kept change follows the highest purged position.
            After::Oldest => Ok(self
                .store
                .read_changes(FeedQuery {
                    after: i64::MAX,
                    limit: 0,
                    kinds: Vec::new(),
                    case_id: None,
                })
                .await?
                .purged_through),
        }
    }

    /// The changes after the request's cursor. With none, waits up to `wait` for one
    /// to commit (or the server to stop), then answers with what there is.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn changes(
        &self,
        request: ChangesRequest,
        wait: Duration,
    ) -> Result<FeedPage, FeedError> {
        let after = self.feed_start(request.after).await?;
        let query = FeedQuery {
            after,
            limit: request.limit,
            kinds: request.kinds,
            case_id: request.case_id,
        };
        let mut moved = self.feed.subscribe();
        let mut stopping = self.stopping();
        let deadline = tokio::time::Instant::now() + wait;
        let mut waited = false;
        loop {
            // Marked seen before the read: a commit after it wakes the wait below.
            moved.borrow_and_update();
            let read = self.store.read_changes(query.clone()).await?;
            if after < read.purged_through {
                return Err(FeedError::Expired {
                    purged_through: read.purged_through,
                });
            }
            // Nothing after the cursor: it must be a position given out (every token and
            // position handed out is at most the commit counter, which only grows).
            if read.items.is_empty() && !waited {
                let head = self.store.current_commit().await?.0;
                if after > head {
                    return Err(FeedError::Ahead { head });
                }
            }
            if !read.items.is_empty()
                || tokio::time::Instant::now() >= deadline
                || *stopping.borrow_and_update()
            {
                if waited {
                    self.observe_feed_lag(&read.items);
                }
                let next_after = read.items.last().map_or(after, |(p, _)| *p);
                return Ok(FeedPage {
                    items: read.items,
                    next_after,
                });
            }
            waited = true;
            tokio::select! {
                r = moved.changed() => if r.is_err() { continue },
                _ = stopping.changed() => {}
                () = tokio::time::sleep_until(deadline) => {}
            }
        }
    }

    /// A waiting reader was handed changes: how long after their commit (the first's).
    fn observe_feed_lag(&self, items: &[(i64, String)]) {
        let Some((_, body)) = items.first() else {
            return;
        };
        let at = serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("at")?.as_str().map(str::to_owned))
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok());
        if let Some(at) = at {
            let lag_ms = self.now().0 - at.timestamp_millis();
            self.metrics.feed_lag.observe(lag_ms.max(0) as f64 / 1000.0);
        }
    }

    /// Forgets changes older than `Changes.Retention`; returns how many.
    pub async fn purge_expired_changes(&self) -> store::Result<u64> {
        let retention_ms =
            i64::try_from(self.settings.get().changes_retention.saturating_mul(1000))
                .unwrap_or(i64::MAX);
        let mut total = 0;
        loop {
            let before = Timestamp(self.now().0.saturating_sub(retention_ms));
            let n = self.store.purge_changes(before, 5_000).await?;
            if n == 0 {
                return Ok(total);
            }
            total += n;
            tokio::task::yield_now().await;
        }
    }
}
