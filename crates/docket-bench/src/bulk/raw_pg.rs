//! The PostgreSQL ceiling under a bulk update: the same case changes as one set-based
//! statement over `unnest`ed arrays, with no job, no HTTP and no per-item bookkeeping.
//!
//! It runs on the server's own tables (the schema named by the URL's `schema=` the way
//! docket reads it), after the HTTP jobs, while the server sits idle: PostgreSQL lets
//! both in at once, so no copy is needed. A job is one transaction holding one statement:
//!
//! ```sql
//! WITH u AS (SELECT * FROM unnest($ids) AS u(case_id)),
//!      h AS (INSERT INTO case_history (...) SELECT c.seq, ..., old value ... FROM cases c JOIN u ...)
//! UPDATE cases c SET fields = <fields with bench = v>, version = version + 1, updated_at = ...
//! FROM u WHERE c.case_id = u.case_id
//! ```
//!
//! the work of one index lookup, one row update and one history insert per case, done
//! by PostgreSQL's executor in bulk: the fastest way the same rows can change.

use std::str::FromStr as _;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, ensure};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

const APPLY: &str = "WITH u AS (SELECT * FROM unnest($1::text[]) AS u(case_id)), \
     h AS (INSERT INTO case_history (case_seq, at, actor, field, from_value, to_value, job_id) \
           SELECT c.seq, $2, 'bench', 'fields.bench', COALESCE((c.fields::jsonb -> 'bench')::text, 'null'), $3, $4 \
           FROM cases c JOIN u ON c.case_id = u.case_id) \
     UPDATE cases c SET fields = jsonb_set(c.fields::jsonb, '{bench}', to_jsonb($5::bigint))::text, \
     version = c.version + 1, updated_at = $2 FROM u WHERE c.case_id = u.case_id";

/// A pool on the server's database and schema.
pub struct RawPg {
    pool: PgPool,
}

/// Splits docket's `schema=NAME` parameter off the URL (PostgreSQL does not know it).
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

impl RawPg {
    /// Connects to the store of `url` (a docket `postgres://` URL) holding `CASE-{cases}`.
    pub async fn open(url: &str, cases: u64) -> anyhow::Result<Self> {
        let (url, schema) = split_schema(url);
        let mut options = PgConnectOptions::from_str(&url).context("parsing --raw-pg")?;
        if let Some(s) = &schema {
            options = options.options([("search_path", s.as_str())]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .context("connecting to PostgreSQL for the raw mode")?;
        let highest = format!("CASE-{cases:06}");
        let found: i64 = sqlx::query_scalar("SELECT count(*) FROM cases WHERE case_id = $1")
            .bind(&highest)
            .fetch_one(&pool)
            .await
            .context("reading cases: is it a docket store?")?;
        ensure!(found == 1, "the store has no {highest}");
        Ok(Self { pool })
    }

    /// Applies `fields.bench = value` to every case of `ids` in one transaction, with a
    /// history row each; returns the time from `BEGIN` to the end of `COMMIT`.
    pub async fn apply(
        &self,
        ids: &[String],
        value: u64,
        job_id: &str,
    ) -> anyhow::Result<Duration> {
        let v = i64::try_from(value).context("bench value out of range")?;
        let started = Instant::now();
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(APPLY)
            .bind(ids)
            .bind(now_millis())
            .bind(value.to_string())
            .bind(job_id)
            .bind(v)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        let elapsed = started.elapsed();
        ensure!(
            done.rows_affected() == ids.len() as u64,
            "raw: {} of {} cases updated",
            done.rows_affected(),
            ids.len()
        );
        Ok(elapsed)
    }

    /// `fields.bench` of one case, to check a job landed.
    pub async fn bench_value(&self, id: &str) -> anyhow::Result<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT (fields::jsonb ->> 'bench')::bigint FROM cases WHERE case_id = $1",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await?)
    }
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
