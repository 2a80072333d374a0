//! When this node may serve a read from its cache: the cache lease.
//!
//! A cached entry is only as good as the invalidations this node has heard since it was
//! read. On one node (SQLite) every invalidation is applied synchronously, so the cache
//! is always trusted. In a cluster they arrive as signals from PostgreSQL, and a node
//! can fall behind without knowing it: a partition, a PostgreSQL restart, a hung
//! process, a notification connection that died quietly. The rule that keeps such a
//! node from serving stale reads:
//!
//! **Architecture invariant.** A node serves from its cache at time `t` only if it has
//! heard back, *through its notification connection*, one of its own heartbeats sent at
//! some `s` with `t < s + lease`, where `lease` is half of `jobs.node_ttl_seconds`.
//!
//! Why this is enough. Signals reach a listener in commit order. Hearing its own beat,
//! sent at `s`, means the node has applied every invalidation committed before `s`.
//! A job waits, before it says `completed`, until every live node has applied its
//! invalidations; it stops waiting for a node only when that node's last heartbeat is
//! older than `node_ttl` (by the store's clock), or `node_ttl` after the wait began.
//! Either way the node's last heard beat was sent more than `node_ttl` before, so its
//! lease (`s + node_ttl / 2`) had already run out: it was no longer serving from its
//! cache. Half the TTL is the margin for clocks that disagree on how long a second is,
//! and for the store's wall clock stepping.
//!
//! A lost notification connection is a gap: signals sent while it was down are gone.
//! The node stops trusting its cache at once ([`Coherence::revoke`]), and when it
//! listens again it drops every entry read before the position it resumed from (see
//! [`crate::store::Signal::Resync`]). A lease that merely ran out (a slow or hung node)
//! needs no flush: nothing was lost, the signals wait in order on the connection, and
//! the next beat heard renews the lease after them.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Beats remembered while they travel (one a heartbeat; more is a slow store).
const IN_FLIGHT: usize = 64;

pub struct Coherence {
    /// One node: every invalidation is applied synchronously; always trusted.
    alone: AtomicBool,
    lease: Duration,
    start: Instant,
    /// The lease runs until this many nanoseconds after `start` (0: not trusted).
    until_ns: AtomicU64,
    next_beat: AtomicU64,
    /// Beats sent and not yet heard: `(seq, sent at)`.
    sent: Mutex<VecDeque<(u64, Instant)>>,
    /// Times the lease was renewed after it had run out or been revoked.
    pub regained: AtomicU64,
    /// Times the notification connection was lost.
    pub lost: AtomicU64,
}

impl Coherence {
    /// Not trusted until `Coherence::alone` or the first beat heard back.
    pub fn new(node_ttl: Duration) -> Self {
        Self {
            alone: AtomicBool::new(false),
            lease: node_ttl / 2,
            start: Instant::now(),
            until_ns: AtomicU64::new(0),
            next_beat: AtomicU64::new(1),
            sent: Mutex::new(VecDeque::new()),
            regained: AtomicU64::new(0),
            lost: AtomicU64::new(0),
        }
    }

    /// This node applies every invalidation itself (a single-node store).
    pub fn set_alone(&self) {
        self.alone.store(true, Ordering::Release);
    }

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.start).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Whether the cache may serve a read now.
    pub fn trusted(&self) -> bool {
        if self.alone.load(Ordering::Relaxed) {
            return true;
        }
        self.nanos(Instant::now()) < self.until_ns.load(Ordering::Acquire)
    }

    /// A new beat about to be sent now; its number goes out with it.
    pub fn beat(&self) -> u64 {
        let seq = self.next_beat.fetch_add(1, Ordering::Relaxed);
        let mut sent = self
            .sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if sent.len() >= IN_FLIGHT {
            sent.pop_front();
        }
        sent.push_back((seq, Instant::now()));
        seq
    }

    /// This node heard its own beat `seq`, after every signal committed before it: the
    /// lease runs until `lease` after that beat was sent.
    pub fn heard(&self, seq: u64) {
        let sent_at = {
            let mut sent = self
                .sent
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let Some(pos) = sent.iter().position(|(s, _)| *s == seq) else {
                return;
            };
            let at = sent[pos].1;
            // Earlier beats can no longer renew more than this one did.
            sent.drain(..=pos);
            at
        };
        let until = self.nanos(sent_at + self.lease);
        let was_trusted = self.trusted();
        let before = self.until_ns.fetch_max(until, Ordering::AcqRel);
        if !was_trusted && until > before && self.trusted() {
            self.regained.fetch_add(1, Ordering::Relaxed);
            tracing::info!("this node serves from its cache again");
        }
    }

    /// Signals may have been lost: stop trusting the cache now. Beats sent before this
    /// moment renew nothing (they may have travelled on the lost connection).
    pub fn revoke(&self) {
        self.until_ns.store(0, Ordering::Release);
        self.lost.fetch_add(1, Ordering::Relaxed);
        self.sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_node_trusts_its_cache_only_after_hearing_its_own_beat() {
        let c = Coherence::new(Duration::from_secs(10));
        assert!(!c.trusted());
        let b = c.beat();
        assert!(!c.trusted());
        c.heard(b + 100); // not ours
        assert!(!c.trusted());
        c.heard(b);
        assert!(c.trusted());
    }

    #[test]
    fn the_lease_runs_out_half_a_ttl_after_the_beat_was_sent() {
        let c = Coherence::new(Duration::from_millis(40));
        let b = c.beat();
        c.heard(b);
        assert!(c.trusted());
        std::thread::sleep(Duration::from_millis(30));
        assert!(!c.trusted(), "20 ms lease still trusted after 30 ms");
        // A beat heard late renews from when it was sent, not when it was heard.
        let late = c.beat();
        std::thread::sleep(Duration::from_millis(30));
        c.heard(late);
        assert!(!c.trusted());
    }

    #[test]
    fn a_revoked_lease_is_not_renewed_by_beats_sent_before() {
        let c = Coherence::new(Duration::from_secs(10));
        let old = c.beat();
        c.revoke();
        c.heard(old);
        assert!(!c.trusted());
        let new = c.beat();
        c.heard(new);
        assert!(c.trusted());
    }

    #[test]
    fn one_node_always_trusts_its_cache() {
        let c = Coherence::new(Duration::from_secs(10));
        c.set_alone();
        assert!(c.trusted());
    }
}
