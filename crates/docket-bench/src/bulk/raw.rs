//! The ceiling under a bulk update: the same case changes as raw SQL, with no job, no
//! HTTP and no per-item bookkeeping, on a copy of the seeded store.
//!
//! One rusqlite connection with the server's pragmas (WAL, `synchronous = NORMAL`, a
//! 64 MiB page cache) and, by default, the server's checkpointing: an automatic
//! checkpoint in the writer's commit that crosses 16,384 WAL pages plus a `PASSIVE` checkpoint every 200 ms from a
//! thread with its own connection ([`Checkpoints::Background`]); [`Checkpoints::Auto`]
//! keeps only SQLite's default (a checkpoint inside the commit that crosses 1,000 WAL
//! pages). A job is one `IMMEDIATE` transaction of two prepared statements per case,
//! timed from `BEGIN` to the end of `COMMIT`:
//!
//! - `INSERT INTO case_history ... SELECT ... FROM cases WHERE case_id = ?` finds the
//!   case by its id (the unique index) and writes its history row with the old value,
//!   as the server's history does, returning the case's `seq`;
//! - `UPDATE cases SET fields = json_set(...), version = version + 1, updated_at = ?
//!   WHERE seq = ?` changes the row found.
//!
//! That is the work the brief's `UPDATE ... WHERE case_id = ?` plus one history insert
//! does (one index lookup, one row update, one insert), in the order that lets the
//! history row carry the old value.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};

const HISTORY: &str = "INSERT INTO case_history (case_seq, at, actor, field, from_value, to_value, job_id) \
     SELECT seq, ?1, 'bench', 'fields.bench', COALESCE(fields -> '$.bench', 'null'), ?2, ?3 \
     FROM cases WHERE case_id = ?4 RETURNING case_seq";

const UPDATE: &str = "UPDATE cases SET fields = json_set(fields, '$.bench', ?2), version = version + 1, \
     updated_at = ?3 WHERE seq = ?1";

/// How the WAL is copied back into the database file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Checkpoints {
    /// As the server does: an automatic checkpoint in the commit that crosses 16,384
    /// WAL pages, and a PASSIVE one every 200 ms from another thread and connection.
    Background,
    /// SQLite's default: the commit that takes the WAL past 1,000 pages checkpoints it.
    Auto,
}

/// The server's checkpointer period.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// A connection to the copy (and its checkpointer thread, stopped on drop).
pub struct RawStore {
    conn: Connection,
    checkpointer: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

impl Drop for RawStore {
    fn drop(&mut self) {
        if let Some((stop, handle)) = self.checkpointer.take() {
            stop.store(true, Ordering::Relaxed);
            let _ = handle.join();
        }
    }
}

fn open_conn(path: &Path) -> anyhow::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .with_context(|| format!("opening {}", path.display()))?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -65536;",
    )
    .context("setting the pragmas")?;
    Ok(conn)
}

fn spawn_checkpointer(path: &Path) -> anyhow::Result<(Arc<AtomicBool>, JoinHandle<()>)> {
    let conn = open_conn(path)?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::Builder::new()
        .name("raw-checkpoint".into())
        .spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(CHECKPOINT_EVERY);
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    eprintln!("raw: WAL checkpoint failed: {e}");
                }
            }
        })?;
    Ok((stop, handle))
}

impl RawStore {
    /// Opens an existing seeded file (never creates one) that holds `CASE-{cases}`.
    pub fn open(path: &Path, cases: u64, checkpoints: Checkpoints) -> anyhow::Result<Self> {
        let conn = open_conn(path)?;
        let highest = format!("CASE-{cases:06}");
        let found: i64 = conn
            .query_row(
                "SELECT count(*) FROM cases WHERE case_id = ?1",
                [&highest],
                |r| r.get(0),
            )
            .with_context(|| format!("reading {}: is it a docket store?", path.display()))?;
        if found != 1 {
            bail!(
                "{} has no {highest}: copy a store seeded with at least {cases} cases",
                path.display()
            );
        }
        let checkpointer = match checkpoints {
            Checkpoints::Auto => None,
            Checkpoints::Background => {
                conn.execute_batch(
                    "PRAGMA wal_autocheckpoint = 16384; PRAGMA journal_size_limit = 67108864;",
                )?;
                Some(spawn_checkpointer(path)?)
            }
        };
        Ok(Self { conn, checkpointer })
    }

    /// Applies `fields.bench = value` to every case of `ids` in one transaction, with
    /// one history row each; returns the time from `BEGIN` to the end of `COMMIT`.
    pub fn apply(&mut self, ids: &[String], value: u64, job_id: &str) -> anyhow::Result<Duration> {
        let to_value = value.to_string();
        let value = i64::try_from(value).context("bench value out of range")?;
        let started = Instant::now();
        let at = now_millis();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut history = tx.prepare_cached(HISTORY)?;
            let mut update = tx.prepare_cached(UPDATE)?;
            for id in ids {
                let seq: i64 = history
                    .query_row(params![at, to_value, job_id, id], |r| r.get(0))
                    .with_context(|| format!("{id} is not in the raw copy"))?;
                update.execute(params![seq, value, at])?;
            }
        }
        tx.commit()?;
        Ok(started.elapsed())
    }

    /// `fields.bench` of one case, to check a job landed.
    pub fn bench_value(&self, id: &str) -> anyhow::Result<Option<i64>> {
        Ok(self.conn.query_row(
            "SELECT fields ->> '$.bench' FROM cases WHERE case_id = ?1",
            [id],
            |r| r.get(0),
        )?)
    }
}

/// Copies the whole WAL of `path` into the database file and truncates it (what the
/// last connection to close normally does); returns the WAL's size before, in bytes.
pub fn truncate_wal(path: &Path) -> anyhow::Result<u64> {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let before = std::fs::metadata(&wal).map_or(0, |m| m.len());
    let conn = open_conn(path)?;
    let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
    if busy != 0 {
        bail!(
            "{} is in use: the checkpoint could not finish",
            path.display()
        );
    }
    Ok(before)
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
