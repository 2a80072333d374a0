//! PostgreSQL: reading the change feed and forgetting old changes. Positions are taken
//! under the commit counter's row lock, held to the commit, so a change becomes visible
//! only after every change at a lower position: a plain read by position misses none.

use async_trait::async_trait;
use sqlx::AssertSqlSafe;

use super::thin::{purge_deleted, render_rows};
use super::{PgStore, counter};
use crate::domain::Timestamp;
use crate::store::decode::CHANGE_COLUMNS;
use crate::store::thin::THIN_COLUMNS;
use crate::store::{FeedQuery, FeedRead, FeedStore, Result};

#[async_trait]
impl FeedStore for PgStore {
    async fn read_changes(&self, q: FeedQuery) -> Result<FeedRead> {
        let mut sql =
            format!("SELECT {CHANGE_COLUMNS}, {THIN_COLUMNS} FROM changes WHERE position > $1");
        if q.case_id.is_some() {
            sql.push_str(" AND case_id = $2");
        } else {
            sql.push_str(" AND $2::text IS NULL");
        }
        if q.kinds.is_empty() {
            sql.push_str(" AND cardinality($3::text[]) = 0");
        } else {
            sql.push_str(" AND kind = ANY($3)");
        }
        sql.push_str(" ORDER BY position LIMIT $4");
        let mut conn = self.pool.acquire().await?;
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(q.after)
            .bind(q.case_id.clone())
            .bind(q.kinds.clone())
            .bind(i64::from(q.limit))
            .fetch_all(&mut *conn)
            .await?;
        let rendered = render_rows(&mut conn, &rows, &self.render).await;
        drop(conn);
        // After the items: a purge that raced them shows here.
        let purged_through = counter(&self.pool, "changes_purged").await?;
        let items = match rendered {
            Ok(items) => items.into_iter().map(|c| (c.position, c.body)).collect(),
            // A purge between the two statements took what a thin change is rebuilt
            // from: the cursor is past retention (410), not a failure.
            Err(_) if purged_through > q.after => Vec::new(),
            Err(e) => return Err(e),
        };
        Ok(FeedRead {
            items,
            purged_through,
        })
    }

    async fn purge_changes(&self, before: Timestamp, limit: u32) -> Result<u64> {
        let mut tx = self.begin().await?;
        // Ended webhook deliveries go with the changes of their time.
        let ended = sqlx::query(
            "DELETE FROM webhook_deliveries WHERE seq IN (SELECT seq FROM webhook_deliveries \
             WHERE state <> 'pending' AND created_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(before.0)
        .bind(i64::from(limit))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // One purge at a time (the counter row), oldest first, up to the first change
        // still within retention.
        let purged: i64 = sqlx::query_scalar(
            "SELECT value FROM counters WHERE name = 'changes_purged' FOR UPDATE",
        )
        .fetch_one(&mut *tx)
        .await?;
        let oldest: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT position, at FROM changes WHERE position > $1 ORDER BY position LIMIT $2",
        )
        .bind(purged)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        let Some(upto) = crate::store::webhook_rows::purge_upto(&oldest, before) else {
            tx.commit().await?;
            return Ok(ended);
        };
        let n = sqlx::query("DELETE FROM changes WHERE position <= $1")
            .bind(upto)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query(
            "UPDATE counters SET value = GREATEST(value, $1) WHERE name = 'changes_purged'",
        )
        .bind(upto)
        .execute(&mut *tx)
        .await?;
        purge_deleted(&mut tx, upto).await?;
        tx.commit().await?;
        Ok(n + ended)
    }
}
