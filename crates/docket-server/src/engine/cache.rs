//! The case-metadata cache: a bounded in-process map of recent case reads.
//!
//! The cache is never the source of truth: writes go to the store, then drop the entries
//! they changed. Each entry remembers the store position (`read_at`) its read started
//! from. Two rules keep it from ever serving a read older than an invalidation it has
//! seen:
//! - an invalidation at commit `c` raises a watermark to `c`; a read whose position is
//!   below the watermark is not stored (it may have started before the change committed);
//! - a read carrying a consistency token `t` is served from the cache only by an entry
//!   with `read_at >= t`.
//!
//! Entries expire after `CaseManagement.CacheTimeout`; the cache holds at most
//! `capacity` entries (oldest inserted go first).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use crate::domain::Timestamp;

use crate::domain::Case;

const SHARDS: usize = 16;

pub struct CaseCache {
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
    watermark: AtomicI64,
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub invalidations: AtomicU64,
}

#[derive(Default)]
struct Shard {
    map: HashMap<String, Entry>,
    order: VecDeque<String>,
}

struct Entry {
    case: Case,
    read_at: i64,
    /// When it was stored, by the engine's clock.
    inserted: Timestamp,
}

impl CaseCache {
    /// A cache of at most `capacity` entries (0: nothing is cached).
    pub fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            per_shard: capacity.div_ceil(SHARDS),
            watermark: AtomicI64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
        }
    }

    fn shard(&self, key: &str) -> std::sync::MutexGuard<'_, Shard> {
        // FNV-1a: cheap and spreads `CASE-000001`-style keys well.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in key.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.shards[(h % SHARDS as u64) as usize]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A live entry for `key` at `now` (younger than `ttl`), fresh enough for
    /// `min_read_at` when a token is given.
    pub fn get(
        &self,
        key: &str,
        ttl: Duration,
        min_read_at: Option<i64>,
        now: Timestamp,
    ) -> Option<Case> {
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let live = |e: &Entry| now.0.saturating_sub(e.inserted.0) < ttl_ms;
        let mut shard = self.shard(key);
        let found = match shard.map.get(key) {
            Some(e) if live(e) && min_read_at.is_none_or(|t| e.read_at >= t) => {
                Some(e.case.clone())
            }
            Some(e) if !live(e) => {
                shard.map.remove(key);
                None
            }
            _ => None,
        };
        match found {
            Some(c) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(c)
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Stores a read made from store position `read_at` at `now`, unless an invalidation
    /// newer than that position has been applied since.
    pub fn insert(&self, case: Case, read_at: i64, now: Timestamp) {
        if self.per_shard == 0 || read_at < self.watermark.load(Ordering::Acquire) {
            return;
        }
        let key = case.id.as_str().to_owned();
        let mut shard = self.shard(&key);
        // Re-check under the lock: an invalidation takes this lock after raising the mark.
        if read_at < self.watermark.load(Ordering::Acquire) {
            return;
        }
        let entry = Entry {
            case,
            read_at,
            inserted: now,
        };
        if shard.map.insert(key.clone(), entry).is_none() {
            shard.order.push_back(key);
        }
        while shard.map.len() > self.per_shard {
            match shard.order.pop_front() {
                Some(old) => {
                    shard.map.remove(&old);
                }
                None => break,
            }
        }
        if shard.order.len() > 2 * self.per_shard.max(1) {
            let Shard { map, order } = &mut *shard;
            order.retain(|k| map.contains_key(k));
        }
    }

    /// Drops the entries of cases changed at commit `commit`.
    pub fn invalidate<S: AsRef<str>>(&self, keys: &[S], commit: i64) {
        self.watermark.fetch_max(commit, Ordering::AcqRel);
        for k in keys {
            if self.shard(k.as_ref()).map.remove(k.as_ref()).is_some() {
                self.invalidations.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Drops every entry read before `commit` (the deferred sweep at a job's end).
    pub fn invalidate_before(&self, commit: i64) {
        self.watermark.fetch_max(commit, Ordering::AcqRel);
        for shard in &self.shards {
            let mut s = shard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let before = s.map.len();
            s.map.retain(|_, e| e.read_at >= commit);
            let dropped = before - s.map.len();
            self.invalidations
                .fetch_add(dropped as u64, Ordering::Relaxed);
        }
    }

    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .map
                    .len()
            })
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CaseId, Priority, Timestamp, Workflow};

    fn case(id: &str, title: &str) -> Case {
        Case {
            id: CaseId::parse(id).unwrap(),
            title: title.into(),
            description: String::new(),
            status: Workflow::default().initial(),
            status_reason: None,
            priority: Priority::Low,
            assignee: None,
            tags: vec![],
            fields: Default::default(),
            open_tasks: 0,
            comment_count: 0,
            version: 1,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
            external_id: None,
        }
    }

    const LONG: Duration = Duration::from_secs(60);
    const T0: Timestamp = Timestamp(1_000_000);

    #[test]
    fn a_read_older_than_an_invalidation_is_not_stored() {
        let c = CaseCache::new(100);
        c.invalidate(&["A"], 10);
        c.insert(case("A", "old"), 9, T0);
        assert!(c.get("A", LONG, None, T0).is_none());
        c.insert(case("A", "new"), 10, T0);
        assert_eq!(c.get("A", LONG, None, T0).unwrap().title, "new");
    }

    #[test]
    fn a_token_newer_than_the_entry_misses() {
        let c = CaseCache::new(100);
        c.insert(case("A", "x"), 5, T0);
        assert!(c.get("A", LONG, Some(5), T0).is_some());
        assert!(c.get("A", LONG, Some(6), T0).is_none());
    }

    #[test]
    fn entries_expire_and_capacity_is_kept() {
        let c = CaseCache::new(32);
        c.insert(case("A", "x"), 1, T0);
        assert!(c.get("A", Duration::ZERO, None, T0).is_none());
        for i in 0..1000 {
            c.insert(case(&format!("K{i}"), "x"), 1, T0);
        }
        assert!(c.len() <= 32 + SHARDS, "{}", c.len());
    }

    #[test]
    fn deferred_sweep_drops_older_reads_only() {
        let c = CaseCache::new(100);
        c.insert(case("A", "x"), 3, T0);
        c.insert(case("B", "x"), 8, T0);
        c.invalidate_before(5);
        assert!(c.get("A", LONG, None, T0).is_none());
        assert!(c.get("B", LONG, None, T0).is_some());
    }
}
