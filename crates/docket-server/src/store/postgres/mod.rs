//! The cluster backend: PostgreSQL, shared by every node.
//!
//! Same tables and constraint names as SQLite; the rules of change are the domain's, as
//! there. Bulk chunks are set-based: one `SELECT … FOR UPDATE` loads the chunk's cases,
//! the domain applies each item in memory, and `unnest` arrays write cases, history and
//! outcomes in a handful of statements.

mod cases;
mod chunk;
mod comments;
mod create_items;
mod fan_out;
mod feed;
mod job_admin;
mod jobs;
mod keys;
mod nodes;
mod record;
mod rows;
mod sessions;
mod stats;
mod thin;
mod webhooks;

use sqlx::AssertSqlSafe;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};

use super::{CommitSeq, Error, Render, Result};
use crate::domain::Workflow;
use record::{commit_case_write, record_changes, record_more};

/// Migrations, applied in order at start under an advisory lock (nodes may start at once).
const MIGRATIONS: &[&str] = &[
    include_str!("schema.sql"),
    include_str!("nodes.sql"),
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

/// Key of the advisory lock that serialises migrations across nodes.
const MIGRATION_LOCK: i64 = 0x646f_636b_6574;

pub struct PgStore {
    pool: PgPool,
    workflow: Arc<Workflow>,
    /// Renders the change feed's records.
    render: Render,
}

pub(super) type Tx = Transaction<'static, Postgres>;

/// Splits docket's own `schema=NAME` parameter off a PostgreSQL URL.
fn split_schema(url: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), None);
    };
    let mut schema = None;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|kv| match kv.strip_prefix("schema=") {
            Some(s) => {
                schema = Some(s.to_owned());
                false
            }
            None => true,
        })
        .collect();
    let url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    (url, schema)
}

impl PgStore {
    /// Connects (a pool of `max_connections`) and applies pending migrations. A
    /// `schema=NAME` parameter puts every table in that schema (created if missing).
    pub async fn open(
        url: &str,
        workflow: Arc<Workflow>,
        render: Render,
        max_connections: u32,
        idle_in_transaction: Duration,
    ) -> anyhow::Result<Self> {
        let (url, schema) = split_schema(url);
        let mut options = PgConnectOptions::from_str(&url).context("parsing the PostgreSQL URL")?;
        if let Some(s) = &schema {
            anyhow::ensure!(
                s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && s.len() <= 56,
                "schema name '{s}' may contain only letters, digits and '_', at most 56 (its signal channel is docket_<schema>)"
            );
            let admin = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(options.clone())
                .await?;
            // Nodes starting together may race here: IF NOT EXISTS is not atomic, and the
            // loser gets a unique violation for a schema that now exists, which is fine.
            if let Err(e) = sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA IF NOT EXISTS {s}")))
                .execute(&admin)
                .await
            {
                let raced = e
                    .as_database_error()
                    .is_some_and(|d| d.code().as_deref() == Some("23505"));
                if !raced {
                    return Err(e.into());
                }
            }
            admin.close().await;
            options = options.options([("search_path", s.as_str())]);
        }
        let idle_ms = idle_in_transaction.as_millis().max(1).to_string();
        options = options.options([("idle_in_transaction_session_timeout", idle_ms.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(2))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .context("connecting to PostgreSQL")?;
        migrate(&pool).await.context("applying migrations")?;
        Ok(Self {
            pool,
            workflow,
            render,
        })
    }

    pub(super) async fn begin(&self) -> Result<Tx> {
        Ok(self.pool.begin().await?)
    }
}

async fn migrate(pool: &PgPool) -> Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await?;
    sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)")
        .execute(&mut *tx)
        .await?;
    let applied: i32 =
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
            .fetch_one(&mut *tx)
            .await?;
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(applied).unwrap_or(0))
    {
        sqlx::raw_sql(AssertSqlSafe(*sql)).execute(&mut *tx).await?;
        // When it was applied, by the database's clock (a store reads no clock of its own).
        sqlx::query(
            "INSERT INTO schema_migrations (version, applied_at) \
             VALUES ($1, (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::bigint)",
        )
        .bind(i32::try_from(i + 1).unwrap_or(i32::MAX))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Advances and returns the commit sequence; once per write transaction. The row lock
/// it takes orders commits, so a later token always covers every earlier commit.
pub(super) async fn next_commit(tx: &mut Tx) -> Result<CommitSeq> {
    let v: i64 = sqlx::query_scalar(
        "UPDATE counters SET value = value + 1 WHERE name = 'commit' RETURNING value",
    )
    .fetch_one(&mut **tx)
    .await?;
    Ok(CommitSeq(v))
}

pub(super) async fn counter<'e, E: sqlx::PgExecutor<'e>>(ex: E, name: &str) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT value FROM counters WHERE name = $1")
            .bind(name)
            .fetch_one(ex)
            .await?,
    )
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => Error::NotFound,
            sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
                // Two writers giving one externalId at once: the loser's answer is the
                // same as when the check before the write finds it taken.
                if db.constraint() == Some("cases_external_id_key") {
                    // "Key (external_id)=(SF-1) already exists."
                    let external_id = db
                        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                        .and_then(|pg| pg.detail())
                        .and_then(|d| d.split_once(")=(")?.1.rsplit_once(") already exists"))
                        .map_or_else(String::new, |(e, _)| e.to_owned());
                    return Error::Refused(crate::domain::ItemError::ExternalIdTaken {
                        external_id,
                        case_id: None,
                    });
                }
                Error::Conflict(db.message().to_owned())
            }
            sqlx::Error::Database(db) if db.code().as_deref().is_some_and(transient) => {
                Error::Unavailable(db.message().to_owned())
            }
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => Error::Unavailable(e.to_string()),
            _ => Error::Other(e.into()),
        }
    }
}

/// SQLSTATEs that say "not now" rather than "never": the server is shutting down,
/// starting, out of connections or resources, the connection broke, a serialisation or
/// lock wait failed, or this session was ended (an idle transaction past its limit).
/// Retrying later can succeed, so the client gets 503 with `Retry-After`, not 500.
fn transient(code: &str) -> bool {
    matches!(
        code,
        "40001" | "40P01" | "55P03" | "57014" | "25P03" | "57P01" | "57P02" | "57P03" | "57P05"
    ) || code.starts_with("08")
        || code.starts_with("53")
}

impl crate::store::Store for PgStore {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shutdown_and_connection_failures_are_transient() {
        for code in ["57P01", "57P03", "08006", "53300", "25P03", "40001"] {
            assert!(transient(code), "{code}");
        }
        for code in ["23503", "42P01", "22P02"] {
            assert!(!transient(code), "{code}");
        }
    }

    #[test]
    fn schema_parameter_is_split_off() {
        assert_eq!(
            split_schema("postgres://h/db"),
            ("postgres://h/db".into(), None)
        );
        assert_eq!(
            split_schema("postgres://h/db?schema=t1"),
            ("postgres://h/db".into(), Some("t1".into()))
        );
        assert_eq!(
            split_schema("postgres://h/db?sslmode=disable&schema=t1"),
            ("postgres://h/db?sslmode=disable".into(), Some("t1".into()))
        );
    }
}
