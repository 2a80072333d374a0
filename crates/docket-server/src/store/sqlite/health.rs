//! Write health: what the store does when the disk fills up or the file turns read-only.
//!
//! A full disk must not lose an acknowledged write (SQLite guarantees that: the failed
//! transaction rolls back), must answer `503` rather than `500`, and must recover by
//! itself once space is freed. Left alone it did not: the WAL, which keeps the space it
//! grew to, took back space freed by an operator within a second and filled the disk
//! again, while every writer (the job worker, each request) kept failing and logging.
//!
//! So the store keeps a *write-health* state:
//!
//! - `Ok`: writes run.
//! - `Full`: a write (or checkpoint) failed for lack of space. Writes are refused at once,
//!   without touching SQLite, so nobody inside the store retries a failing write in a
//!   loop and no write grows the WAL into space that was just freed; the background
//!   checkpointer runs `wal_checkpoint(TRUNCATE)` instead of `PASSIVE`, which copies the
//!   WAL into the database and cuts the WAL file to zero bytes, giving its space back to
//!   the file system. About once a second it probes whether free space is comfortably
//!   back (below); then the state is `Ok` again and `/readyz` turns `200` by itself,
//!   without waiting for a client write.
//! - `ReadOnly`: a write failed with `SQLITE_READONLY`. Writes are still tried (a refused
//!   write costs nothing); the first that succeeds, or a small write the checkpointer tries
//!   about once a second, ends the state.
//!
//! **The reserve.** At open the store writes a file beside the database,
//! `<database>-reserve`, of `[database.sqlite] reserve_bytes` (default 8 MiB; 0 disables
//! it). When the disk fills, the store deletes it: the checkpoint that shrinks the WAL
//! must itself write (database pages it copies from the WAL may extend the file), and on
//! a disk with no byte left it would fail too, leaving nothing that can free space. The
//! reserve is written with real, incompressible bytes: a sparse file, or zeros on a file
//! system that compresses (ZFS, btrfs), would reserve nothing. It comes back once free
//! space is comfortably back: the probe writes the reserve again plus as many bytes
//! again in a scratch file (`<database>-probe`, deleted at once), that is, it asks for
//! twice the reserve free. A write that stops with `ENOSPC` means "not yet" (the std
//! library has no `statvfs`, and this crate takes no `libc` dependency for one call);
//! the partial files are removed, so a failed probe changes nothing.
//!
//! **Logging.** One `warn` when the state leaves `Ok` (with the database path and the
//! error) and one `info` when it is `Ok` again; refused writes and failed probes are not
//! logged.

use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use crate::store::{Error, Result};

/// The start of an `Unavailable` detail that means the disk is full.
pub(super) const DISK_FULL: &str = "the disk is full";
/// The start of an `Unavailable` detail that means the database file is read-only.
pub(super) const READ_ONLY: &str = "the database is read-only";

/// How often the state is probed while it is not `Ok`.
pub(super) const PROBE_EVERY: Duration = Duration::from_secs(1);

/// Bytes the probe asks for when there is no reserve.
const PROBE_BYTES_WITHOUT_RESERVE: u64 = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    Ok = 0,
    Full = 1,
    ReadOnly = 2,
}

impl State {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => Self::Full,
            2 => Self::ReadOnly,
            _ => Self::Ok,
        }
    }
}

pub(super) struct WriteHealth {
    db: PathBuf,
    /// `<database>-reserve`; `None` when disabled.
    reserve: Option<PathBuf>,
    reserve_bytes: u64,
    /// The state, readable without the lock.
    state: AtomicU8,
    /// Held while the state changes or a probe runs.
    lock: Mutex<Probe>,
}

struct Probe {
    last: Option<Instant>,
}

impl WriteHealth {
    /// Creates the reserve (when enabled). A disk too full to hold it starts `Full`: the
    /// store still opens and serves reads, and refuses writes until space is freed.
    pub(super) fn open(db: &Path, reserve_bytes: u64) -> Self {
        let named = !db.as_os_str().is_empty() && db != Path::new(":memory:");
        let reserve = (named && reserve_bytes > 0).then(|| with_suffix(db, "-reserve"));
        let health = Self {
            db: db.to_owned(),
            reserve,
            reserve_bytes,
            state: AtomicU8::new(State::Ok as u8),
            lock: Mutex::new(Probe { last: None }),
        };
        if let Some(reserve) = &health.reserve {
            let ready = std::fs::metadata(reserve).is_ok_and(|m| m.len() == reserve_bytes);
            if !ready {
                match fill_file(reserve, reserve_bytes, true) {
                    Ok(()) => {}
                    Err(e) if is_no_space(&e) => {
                        tracing::warn!(
                            path = %db.display(), reserve = %reserve.display(), reserve_bytes,
                            "{DISK_FULL}: no room for the free-space reserve; refusing writes until space is freed"
                        );
                        health.set(State::Full);
                        if let Ok(mut p) = health.lock.lock() {
                            p.last = Some(Instant::now());
                        }
                    }
                    Err(e) => tracing::warn!(
                        path = %reserve.display(), error = %e,
                        "could not write the free-space reserve; running without one"
                    ),
                }
            }
        }
        health
    }

    pub(super) fn state(&self) -> State {
        State::from_u8(self.state.load(Ordering::Acquire))
    }

    fn set(&self, s: State) {
        self.state.store(s as u8, Ordering::Release);
    }

    /// `Err(Unavailable)` while the store cannot accept writes (for `/readyz`).
    pub(super) fn check(&self) -> Result<()> {
        match self.state() {
            State::Ok => Ok(()),
            State::Full => Err(Error::Unavailable(format!(
                "{DISK_FULL}: writes are refused until space is freed beside {}",
                self.db.display()
            ))),
            State::ReadOnly => Err(Error::Unavailable(format!(
                "{READ_ONLY}: {} cannot be written",
                self.db.display()
            ))),
        }
    }

    /// Before a write: refuses it while the disk is full, unless a probe (at most one
    /// per [`PROBE_EVERY`]) finds space back.
    pub(super) fn admit(&self) -> Result<()> {
        if self.state() != State::Full {
            return Ok(());
        }
        self.probe_if_due();
        match self.state() {
            State::Full => self.check(),
            _ => Ok(()),
        }
    }

    /// After a write (or checkpoint): enters `Full` or `ReadOnly` on the errors that mean
    /// so; a success ends `ReadOnly`.
    pub(super) fn observe<T>(&self, r: &Result<T>) {
        match r {
            Ok(_) => {
                if self.state() == State::ReadOnly {
                    self.back_to_ok("a write succeeded: accepting writes again");
                }
            }
            Err(Error::Unavailable(d)) if d.starts_with(DISK_FULL) => self.went_full(d),
            Err(Error::Unavailable(d)) if d.starts_with(READ_ONLY) => {
                let mut p = self
                    .lock
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if self.state() == State::Ok {
                    tracing::warn!(
                        path = %self.db.display(), error = %d,
                        "{READ_ONLY}: writes fail until it can be written again"
                    );
                    self.set(State::ReadOnly);
                    p.last = Some(Instant::now());
                }
            }
            Err(_) => {}
        }
    }

    fn went_full(&self, error: &str) {
        let mut p = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.state() != State::Full {
            tracing::warn!(
                path = %self.db.display(), error = %error,
                "{DISK_FULL}: refusing writes and shrinking the WAL until space is freed"
            );
            self.set(State::Full);
            p.last = Some(Instant::now());
        }
        // Give the reserve's space to the checkpoint that shrinks the WAL.
        if let Some(reserve) = &self.reserve {
            match std::fs::remove_file(reserve) {
                Ok(()) => tracing::info!(
                    path = %reserve.display(), bytes = self.reserve_bytes,
                    "released the free-space reserve"
                ),
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(
                    path = %reserve.display(), error = %e,
                    "could not release the free-space reserve"
                ),
            }
        }
    }

    fn back_to_ok(&self, why: &str) {
        self.set(State::Ok);
        tracing::info!(path = %self.db.display(), "{why}");
    }

    /// While `Full`: at most once per [`PROBE_EVERY`], checks whether twice the reserve
    /// is free (writing the reserve back), and if so returns to `Ok`.
    pub(super) fn probe_if_due(&self) {
        let mut p = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.state() != State::Full || p.last.is_some_and(|t| t.elapsed() < PROBE_EVERY) {
            return;
        }
        p.last = Some(Instant::now());
        if self.space_is_back() {
            self.back_to_ok("free space is back: accepting writes again");
        }
    }

    /// Whether `ReadOnly` is due a probe (the checkpointer runs it with its connection).
    pub(super) fn read_only_probe_due(&self) -> bool {
        let mut p = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.state() != State::ReadOnly || p.last.is_some_and(|t| t.elapsed() < PROBE_EVERY) {
            return false;
        }
        p.last = Some(Instant::now());
        true
    }

    /// Writes the reserve (when missing) and as many bytes again in a scratch file; on
    /// `ENOSPC` removes what it wrote and answers no.
    fn space_is_back(&self) -> bool {
        let scratch = with_suffix(&self.db, "-probe");
        let Some(reserve) = &self.reserve else {
            let ok = fill_file(&scratch, PROBE_BYTES_WITHOUT_RESERVE, false).is_ok();
            let _ = std::fs::remove_file(&scratch);
            return ok;
        };
        let had_reserve = std::fs::metadata(reserve).is_ok_and(|m| m.len() == self.reserve_bytes);
        if !had_reserve && fill_file(reserve, self.reserve_bytes, true).is_err() {
            return false;
        }
        let headroom = fill_file(&scratch, self.reserve_bytes, false);
        let _ = std::fs::remove_file(&scratch);
        if headroom.is_err() && !had_reserve {
            // Not enough for both: keep the space free for the checkpoint.
            let _ = std::fs::remove_file(reserve);
        }
        headroom.is_ok()
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Out of space, for the file system (`ENOSPC`; `EDQUOT` is a quota's "full").
fn is_no_space(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::StorageFull | ErrorKind::QuotaExceeded)
}

/// Writes `len` incompressible bytes to `path` (replacing it); on failure removes the
/// partial file. `sync`: also flushes it to disk, so its blocks are really allocated.
fn fill_file(path: &Path, len: u64, sync: bool) -> std::io::Result<()> {
    let out = (|| {
        let mut f = std::fs::File::create(path)?;
        let block = noise_block();
        let mut left = len;
        while left > 0 {
            let n = usize::try_from(left.min(block.len() as u64)).unwrap_or(block.len());
            f.write_all(&block[..n])?;
            left -= n as u64;
        }
        if sync {
            f.sync_all()?;
        }
        Ok(())
    })();
    if out.is_err() {
        let _ = std::fs::remove_file(path);
    }
    out
}

/// 64 KiB of pseudo-random bytes (xorshift), so no file system stores them as a hole or
/// compresses them away.
fn noise_block() -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(64 * 1024);
    while out.len() < 64 * 1024 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

#[async_trait::async_trait]
impl crate::store::NodeStore for super::SqliteStore {
    fn single_node(&self) -> bool {
        true
    }

    /// `Err` while the disk is full (until the checkpointer's probe finds space back) or
    /// the file is read-only; otherwise the store answers.
    async fn writable(&self) -> Result<()> {
        self.inner.health.check()?;
        crate::store::CaseStore::schema_version(self)
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_is_written_with_real_bytes_and_released_when_the_disk_fills() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("docket.db");
        let h = WriteHealth::open(&db, 256 * 1024);
        let reserve = dir.path().join("docket.db-reserve");
        let bytes = std::fs::read(&reserve).unwrap();
        assert_eq!(bytes.len(), 256 * 1024);
        assert!(bytes.iter().filter(|b| **b == 0).count() < bytes.len() / 64);
        assert_eq!(h.state(), State::Ok);
        assert!(h.check().is_ok());

        h.observe::<()>(&Err(Error::Unavailable(format!("{DISK_FULL}: x"))));
        assert_eq!(h.state(), State::Full);
        assert!(!reserve.exists(), "the reserve is released");
        let refused = h.admit();
        assert!(
            matches!(&refused, Err(Error::Unavailable(d)) if d.starts_with(DISK_FULL)),
            "{refused:?}"
        );
        assert!(h.check().is_err());

        // Space is there (a roomy temp dir): the next due probe restores the reserve.
        std::thread::sleep(PROBE_EVERY);
        assert!(h.admit().is_ok());
        assert_eq!(h.state(), State::Ok);
        assert_eq!(std::fs::metadata(&reserve).unwrap().len(), 256 * 1024);
        assert!(!dir.path().join("docket.db-probe").exists());
    }

    #[test]
    fn read_only_ends_with_the_first_write_that_succeeds() {
        let dir = tempfile::tempdir().unwrap();
        let h = WriteHealth::open(&dir.path().join("d.db"), 0);
        assert!(!dir.path().join("d.db-reserve").exists());
        h.observe::<()>(&Err(Error::Unavailable(format!("{READ_ONLY}: x"))));
        assert_eq!(h.state(), State::ReadOnly);
        assert!(h.check().is_err());
        assert!(h.admit().is_ok(), "read-only writes are still tried");
        h.observe(&Ok(()));
        assert_eq!(h.state(), State::Ok);
    }
}
