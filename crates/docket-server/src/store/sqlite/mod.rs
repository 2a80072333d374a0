//! The embedded backend: one SQLite file in WAL mode.
//!
//! SQLite serialises writers, so the store keeps one writer connection behind a mutex
//! (a write waits for the previous one; nothing is lost or interleaved) and a small pool
//! of reader connections that WAL lets run beside it. All SQLite calls run on tokio's
//! blocking pool, never on the async runtime's threads.
//!
//! A full disk (or a read-only file) puts the store in a write-health state that refuses
//! writes, shrinks the WAL and recovers by itself: see [`health`] for how and why, and
//! for the free-space reserve kept beside the database.

mod cases;
mod chunk;
mod comments;
mod create_items;
mod feed;
mod health;
mod job_admin;
mod job_rows;
mod jobs;
mod keys;
#[cfg(test)]
mod list_plan;
mod rows;
mod sessions;
mod stats;
mod thin;
mod webhooks;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context as _;
use rusqlite::{Connection, OpenFlags};

use super::{Error, Result};
use crate::config::SqliteConfig;
use crate::domain::Workflow;
use health::{State, WriteHealth};

/// Migrations, applied in order at start; the schema version is the count applied.
const MIGRATIONS: &[&str] = &[
    include_str!("schema.sql"),
    include_str!("jobs.sql"),
    include_str!("settings.sql"),
    include_str!("keys.sql"),
    include_str!("case_sort.sql"),
    include_str!("title_search.sql"),
    include_str!("sessions.sql"),
    include_str!("changes.sql"),
    include_str!("webhooks.sql"),
    include_str!("change_columns.sql"),
    include_str!("bulk_v2.sql"),
    include_str!("tag_lookup.sql"),
    include_str!("comments.sql"),
    include_str!("thin_changes.sql"),
];

/// Reader connections kept open for reuse.
const MAX_IDLE_READERS: usize = 8;

pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    workflow: Arc<Workflow>,
    /// Renders the change feed's records.
    render: crate::store::Render,
    config: SqliteConfig,
    /// Tells the checkpointer thread to stop when the store goes.
    stop: Arc<AtomicBool>,
    /// Reader connections in use (for `/metrics`).
    busy_readers: AtomicU64,
    /// Writes waiting for the writer connection: while one is, a job's chunk commits
    /// after its `Jobs.ChunkSize` items instead of going on ([`chunk::Group`]).
    writes_waiting: AtomicU64,
    /// The server is stopping: a job's step ends with its chunk in progress.
    winding_down: AtomicBool,
    /// Whether writes can run (disk full, read-only), and the free-space reserve.
    health: Arc<WriteHealth>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// How often the background checkpointer copies the WAL into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// Checkpoints the WAL from its own thread and connection, so committing writes rarely
/// wait for a checkpoint's `fsync`s (SQLite's automatic checkpoint runs inside the commit
/// that crosses the threshold; with the WAL mostly copied already, it has little left to
/// do). PASSIVE never blocks readers or the writer.
///
/// While the disk is full it runs TRUNCATE instead, which also cuts the WAL file to zero
/// bytes (when no reader still needs it), and probes whether space is back; while the
/// file is read-only it tries a small write. A failing checkpoint is logged when it
/// starts and stops failing, not every time.
fn spawn_checkpointer(
    path: PathBuf,
    config: SqliteConfig,
    stop: Arc<AtomicBool>,
    health: Arc<WriteHealth>,
) -> anyhow::Result<()> {
    let conn = open_conn(&path, &config)?;
    std::thread::Builder::new()
        .name("docket-checkpoint".into())
        .spawn(move || {
            let mut failing = false;
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(CHECKPOINT_EVERY);
                let state = health.state();
                let mode = if state == State::Full {
                    "TRUNCATE"
                } else {
                    "PASSIVE"
                };
                let done = conn
                    .query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |_| Ok(()))
                    .map_err(map_err);
                if done.is_err() {
                    // Only its errors tell: an empty WAL checkpoints without writing.
                    health.observe(&done);
                }
                match (&done, failing) {
                    (Err(e), false) => {
                        tracing::warn!(error = %e, mode, "WAL checkpoint failed");
                        failing = true;
                    }
                    (Ok(()), true) => {
                        tracing::info!(mode, "WAL checkpoint succeeds again");
                        failing = false;
                    }
                    _ => {}
                }
                match state {
                    State::Full => health.probe_if_due(),
                    State::ReadOnly if health.read_only_probe_due() => {
                        health.observe(&probe_write(&conn));
                    }
                    _ => {}
                }
            }
            // Leave a small WAL behind on a clean stop.
            let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        })?;
    Ok(())
}

/// A write that changes nothing, to learn whether the file can be written again.
fn probe_write(conn: &Connection) -> Result<()> {
    let out = conn.execute_batch(
        "BEGIN IMMEDIATE;
         UPDATE schema_migrations SET applied_at = applied_at
          WHERE version = (SELECT MAX(version) FROM schema_migrations);
         COMMIT;",
    );
    if !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    out.map_err(map_err)
}

/// The file path named by a `sqlite:` URL: `sqlite://rel.db`, `sqlite:///abs.db`,
/// `sqlite:rel.db`. A query string is ignored.
pub fn path_from_url(url: &str) -> anyhow::Result<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .context("a SQLite URL starts with sqlite://")?;
    let rest = rest.split('?').next().unwrap_or_default();
    anyhow::ensure!(!rest.is_empty(), "the SQLite URL '{url}' names no file");
    Ok(PathBuf::from(rest))
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies pending migrations.
    pub async fn open(
        url: &str,
        workflow: Arc<Workflow>,
        render: crate::store::Render,
        config: &SqliteConfig,
    ) -> anyhow::Result<Self> {
        let path = path_from_url(url)?;
        let config = config.clone();
        tokio::task::spawn_blocking(move || {
            let mut writer = open_conn(&path, &config)
                .with_context(|| format!("opening SQLite database {}", path.display()))?;
            migrate(&mut writer).context("applying migrations")?;
            // The writer keeps an automatic checkpoint: without one, a WAL that is
            // written continuously (a long job) is never reset and grows without bound
            // (20 GB in a 1,000,000-item job). Its threshold is high (64 MiB of frames,
            // not SQLite's 4 MiB, which a 500-item chunk crosses in every commit), so the
            // background PASSIVE checkpoints, on another core, copy most frames and the
            // commit that crosses it has little left to do; a page written by many
            // chunks is copied once per 64 MiB, not once per chunk. journal_size_limit
            // trims the file after each reset.
            writer.execute_batch(
                "PRAGMA wal_autocheckpoint = 16384; PRAGMA journal_size_limit = 67108864;",
            )?;
            let health = Arc::new(WriteHealth::open(&path, config.reserve_bytes));
            let stop = Arc::new(AtomicBool::new(false));
            spawn_checkpointer(path.clone(), config.clone(), stop.clone(), health.clone())
                .context("starting the WAL checkpointer")?;
            let inner = Inner {
                path,
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
                workflow,
                render,
                config,
                stop,
                busy_readers: AtomicU64::new(0),
                writes_waiting: AtomicU64::new(0),
                winding_down: AtomicBool::new(false),
                health,
            };
            Ok(Self {
                inner: Arc::new(inner),
            })
        })
        .await
        .context("store start-up task")?
    }

    /// The change feed's renderer, for a write closure to take along.
    fn render(&self) -> crate::store::Render {
        self.inner.render.clone()
    }

    /// Runs `f` with the writer connection on the blocking pool. While the disk is full
    /// the write is refused (`Unavailable`) without running, until space is back.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &Workflow) -> Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        // The caller's span goes along, so what the store logs names the request.
        let span = tracing::Span::current();
        let waiting = Waiting::new(inner.clone());
        tokio::task::spawn_blocking(move || {
            let _span = span.enter();
            let mut conn = lock(&inner.writer);
            drop(waiting);
            inner.health.admit()?;
            let out = f(&mut conn, &inner.workflow);
            inner.health.observe(&out);
            out
        })
        .await
        .map_err(|e| Error::Other(anyhow::anyhow!("store task failed: {e}")))?
    }

    /// Runs `f` with a reader connection on the blocking pool.
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &Workflow) -> Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _span = span.enter();
            let pooled = lock(&inner.readers).pop();
            let conn = match pooled {
                Some(c) => c,
                None => open_conn(&inner.path, &inner.config).map_err(map_err)?,
            };
            inner.busy_readers.fetch_add(1, Ordering::Relaxed);
            let out = f(&conn, &inner.workflow);
            inner.busy_readers.fetch_sub(1, Ordering::Relaxed);
            let mut idle = lock(&inner.readers);
            if idle.len() < MAX_IDLE_READERS {
                idle.push(conn);
            }
            out
        })
        .await
        .map_err(|e| Error::Other(anyhow::anyhow!("store task failed: {e}")))?
    }
}

/// Counts a write as waiting for the writer from before it is queued until it holds
/// the writer (or is dropped unrun).
struct Waiting(Arc<Inner>);

impl Waiting {
    fn new(inner: Arc<Inner>) -> Self {
        inner.writes_waiting.fetch_add(1, Ordering::Relaxed);
        Self(inner)
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.writes_waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock rolled back its transaction (the Transaction guard
    // drops first), so the connection is still sound.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn open_conn(path: &Path, config: &SqliteConfig) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = {};
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -{};",
        if config.synchronous_full {
            "FULL"
        } else {
            "NORMAL"
        },
        config.cache_size_mib.max(1) * 1024,
    ))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             applied_at INTEGER NOT NULL
         )",
    )?;
    let applied: i64 = tx.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?;
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(applied).unwrap_or(0))
    {
        tx.execute_batch(sql)?;
        // When it was applied, by the database's clock (a store reads no clock of its own).
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) \
             VALUES (?1, CAST(unixepoch('subsec') * 1000 AS INTEGER))",
            [i64::try_from(i + 1).unwrap_or(i64::MAX)],
        )?;
    }
    tx.commit()
}

/// Maps a driver error to the store's error. Running out of space and a read-only file
/// are `Unavailable` (a `503`: nothing was written, the client may retry), with a detail
/// that starts with [`health::DISK_FULL`] or [`health::READ_ONLY`], which the write-health
/// state recognises.
fn map_err(e: rusqlite::Error) -> Error {
    use rusqlite::{ErrorCode, ffi};
    match &e {
        rusqlite::Error::QueryReturnedNoRows => Error::NotFound,
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            ErrorCode::ConstraintViolation => Error::Conflict(e.to_string()),
            // SQLITE_FULL: a write stopped with ENOSPC. The I/O errors that mean the same:
            // a failed write other than ENOSPC (EDQUOT, a quota's "full") or
            // preallocation, and the shared-memory file that cannot grow.
            ErrorCode::DiskFull => Error::Unavailable(format!("{}: {e}", health::DISK_FULL)),
            ErrorCode::SystemIoFailure
                if matches!(
                    f.extended_code,
                    ffi::SQLITE_IOERR_WRITE | ffi::SQLITE_IOERR_SHMSIZE
                ) =>
            {
                Error::Unavailable(format!("{} (I/O error writing): {e}", health::DISK_FULL))
            }
            ErrorCode::ReadOnly => Error::Unavailable(format!("{}: {e}", health::READ_ONLY)),
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::CannotOpen
            | ErrorCode::SystemIoFailure => Error::Unavailable(e.to_string()),
            _ => Error::Other(e.into()),
        },
        _ => Error::Other(e.into()),
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        map_err(e)
    }
}

impl crate::store::Store for SqliteStore {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes a migrated database back to before version 11 (the bulk columns and
    /// `externalId`, the comments of version 13 and the thin changes of version 14), so
    /// a test can play an older version's database: what a later migration adds must go
    /// too, or applying it again fails.
    fn undo_bulk_v2(conn: &Connection) {
        conn.execute_batch(
            "DROP TABLE deleted_cases;
             ALTER TABLE changes DROP COLUMN history_from;
             ALTER TABLE changes DROP COLUMN history_to;
             ALTER TABLE cases DROP COLUMN thin_changes;
             ALTER TABLE jobs DROP COLUMN dry_run;
             ALTER TABLE jobs DROP COLUMN revert_of;
             ALTER TABLE jobs DROP COLUMN template;
             ALTER TABLE jobs DROP COLUMN upsert_by;
             ALTER TABLE job_items DROP COLUMN action;
             DROP INDEX cases_external_id_key;
             ALTER TABLE cases DROP COLUMN external_id;
             ALTER TABLE changes DROP COLUMN external_id;
             DROP TABLE comments;
             ALTER TABLE cases DROP COLUMN comment_count;
             ALTER TABLE changes DROP COLUMN comment_count;
             ALTER TABLE changes DROP COLUMN comment_id;
             DELETE FROM counters WHERE name = 'comment_number';",
        )
        .unwrap();
    }

    /// Replacing or deleting a case's tags finds them by the case, not by scanning every
    /// tag of every case (which made a tag-setting bulk job on a large store crawl).
    #[test]
    fn a_cases_tags_are_found_by_the_case() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let plan: String = conn
            .query_row(
                "EXPLAIN QUERY PLAN DELETE FROM case_tags WHERE case_seq = 7",
                [],
                |r| r.get(3),
            )
            .unwrap();
        assert!(plan.contains("case_tags_case_seq"), "{plan}");
    }

    #[test]
    fn the_title_index_migration_indexes_the_cases_already_there() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        undo_bulk_v2(&conn);
        // Back to the schema before it (and before the migrations after it), with a case
        // written then.
        conn.execute_batch(
            "DROP TABLE console_sessions;
             DROP TABLE changes;
             DROP TABLE webhooks;
             DROP TABLE webhook_deliveries;
             DELETE FROM counters WHERE name = 'changes_purged';
             DROP TABLE cases_title_fts;
             DROP TRIGGER cases_title_fts_insert;
             DROP TRIGGER cases_title_fts_delete;
             DROP TRIGGER cases_title_fts_update;
             DELETE FROM schema_migrations WHERE version >= 6;
             INSERT INTO cases (case_id, title, description, status, priority, tags, fields,
                                version, created_at, updated_at, commit_seq)
             VALUES ('CASE-000001', 'Printer jam', '', 'Open', 'normal', '[]', '{}', 1, 0, 0, 0);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let found: i64 = conn
            .query_row(
                "SELECT rowid FROM cases_title_fts WHERE cases_title_fts MATCH '\"TER JA\"'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(found, 1);
    }

    /// Version 10 keeps changes in columns; the changes kept rendered before it are read
    /// back as they were, and the new ones beside them are rendered when read.
    #[tokio::test]
    async fn changes_kept_before_the_change_columns_read_back_as_they_were() {
        use crate::store::{Actor, CaseStore, FeedQuery, FeedStore};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.db");
        // A database at version 9, with one change as version 9 kept it.
        {
            let mut conn = Connection::open(&path).unwrap();
            migrate(&mut conn).unwrap();
            undo_bulk_v2(&conn);
            conn.execute_batch(
                "DROP TABLE changes;
                 CREATE TABLE changes (position INTEGER PRIMARY KEY, kind TEXT NOT NULL,
                                       case_id TEXT, at INTEGER NOT NULL, body TEXT NOT NULL);
                 INSERT INTO changes VALUES (1, 'case.created', 'CASE-000009', 5,
                                             '{\"type\":\"case.created\",\"old\":true}');
                 UPDATE counters SET value = 1 WHERE name = 'commit';
                 DELETE FROM schema_migrations WHERE version >= 10;",
            )
            .unwrap();
        }
        let wf = Arc::new(Workflow::default());
        let url = format!("sqlite://{}", path.display());
        let store = SqliteStore::open(
            &url,
            wf.clone(),
            Arc::new(crate::wire::render_change),
            &SqliteConfig::default(),
        )
        .await
        .unwrap();
        let new = crate::domain::NewCase::parse(
            docket_api::NewCase {
                title: Some("after the upgrade".into()),
                ..Default::default()
            },
            &wf,
        )
        .unwrap();
        let actor = Actor {
            name: "t".into(),
            at: crate::domain::Timestamp::now(),
        };
        store.create_case(new, actor).await.unwrap();
        let read = store
            .read_changes(FeedQuery {
                after: 0,
                limit: 10,
                kinds: vec![],
                case_id: None,
            })
            .await
            .unwrap();
        assert_eq!(read.items.len(), 2, "{:?}", read.items);
        assert_eq!(
            read.items[0],
            (1, r#"{"type":"case.created","old":true}"#.into())
        );
        let (position, body) = &read.items[1];
        assert_eq!(*position, 2);
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["type"], "case.created");
        assert_eq!(v["actor"], "t");
        assert_eq!(v["case"]["title"], "after the upgrade");
        assert_eq!(v["case"]["version"], 1);
        assert_eq!(v["changes"][0]["field"], "title");
    }

    /// `max_page_count` makes SQLite answer SQLITE_FULL as a full disk does, on any disk.
    #[tokio::test]
    async fn a_full_database_refuses_writes_with_unavailable_and_recovers_by_itself() {
        use crate::store::{Actor, CaseStore, NodeStore};
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("d.db").display());
        let config = SqliteConfig {
            reserve_bytes: 64 * 1024,
            ..SqliteConfig::default()
        };
        let wf = Arc::new(Workflow::default());
        let store = SqliteStore::open(
            &url,
            wf.clone(),
            Arc::new(crate::wire::render_change),
            &config,
        )
        .await
        .unwrap();
        let reserve = dir.path().join("d.db-reserve");
        assert_eq!(std::fs::metadata(&reserve).unwrap().len(), 64 * 1024);
        let new = |t: &str| {
            crate::domain::NewCase::parse(
                docket_api::NewCase {
                    title: Some(t.into()),
                    ..Default::default()
                },
                &wf,
            )
            .unwrap()
        };
        let actor = || Actor {
            name: "t".into(),
            at: crate::domain::Timestamp::now(),
        };
        store.create_case(new("before"), actor()).await.unwrap();
        store.writable().await.unwrap();

        let pages: i64 = {
            let w = lock(&store.inner.writer);
            let n = w.query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap();
            w.query_row(&format!("PRAGMA max_page_count = {n}"), [], |_| Ok(()))
                .unwrap();
            n
        };
        let big = "x".repeat(400);
        let mut refused = None;
        for i in 0..200 {
            if let Err(e) = store.create_case(new(&format!("{big}{i}")), actor()).await {
                refused = Some(e);
                break;
            }
        }
        let refused = refused.expect("no write failed");
        assert!(
            matches!(&refused, Error::Unavailable(d) if d.starts_with(health::DISK_FULL)),
            "{refused:?}"
        );
        assert!(!reserve.exists(), "the reserve is released");
        assert!(matches!(store.writable().await, Err(Error::Unavailable(_))));
        // Refused without running: the page limit is unchanged and the error the same.
        let again = store.create_case(new("while full"), actor()).await;
        assert!(
            matches!(&again, Err(Error::Unavailable(d)) if d.contains("refused until space is freed")),
            "{again:?}"
        );

        // "Space is freed"; the checkpointer's probe finds it within about a second.
        lock(&store.inner.writer)
            .query_row(
                &format!("PRAGMA max_page_count = {}", pages * 100),
                [],
                |_| Ok(()),
            )
            .unwrap();
        let started = std::time::Instant::now();
        while store.writable().await.is_err() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(5),
                "still not writable"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(std::fs::metadata(&reserve).unwrap().len(), 64 * 1024);
        store.create_case(new("after"), actor()).await.unwrap();
    }

    #[test]
    fn read_only_is_unavailable_not_a_failure() {
        let e = map_err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_READONLY),
            None,
        ));
        assert!(
            matches!(&e, Error::Unavailable(d) if d.starts_with(health::READ_ONLY)),
            "{e:?}"
        );
        let e = map_err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR_WRITE),
            None,
        ));
        assert!(
            matches!(&e, Error::Unavailable(d) if d.starts_with(health::DISK_FULL)),
            "{e:?}"
        );
    }

    #[test]
    fn urls_name_relative_and_absolute_files() {
        assert_eq!(
            path_from_url("sqlite://docket.db").unwrap(),
            PathBuf::from("docket.db")
        );
        assert_eq!(
            path_from_url("sqlite:///var/x.db").unwrap(),
            PathBuf::from("/var/x.db")
        );
        assert_eq!(
            path_from_url("sqlite:a.db?mode=rwc").unwrap(),
            PathBuf::from("a.db")
        );
        assert!(path_from_url("sqlite://").is_err());
        assert!(path_from_url("postgres://x").is_err());
    }
}
