//! SQLite: reading the change feed and forgetting old changes. One writer commits at a
//! time, so positions become visible in position order.

use async_trait::async_trait;
use rusqlite::types::Value as Sql;

use super::SqliteStore;
use super::cases::immediate;
use super::rows::counter;
use super::thin::{purge_deleted, read_changes};
use crate::domain::Timestamp;
use crate::store::decode::CHANGE_COLUMNS;
use crate::store::thin::THIN_COLUMNS;
use crate::store::{FeedQuery, FeedRead, FeedStore, Result};

#[async_trait]
impl FeedStore for SqliteStore {
    async fn read_changes(&self, q: FeedQuery) -> Result<FeedRead> {
        let render = self.render();
        self.read(move |conn, _| {
            let mut sql =
                format!("SELECT {CHANGE_COLUMNS}, {THIN_COLUMNS} FROM changes WHERE position > ?1");
            let mut params = vec![Sql::Integer(q.after)];
            if let Some(case) = &q.case_id {
                params.push(Sql::Text(case.clone()));
                sql.push_str(&format!(" AND case_id = ?{}", params.len()));
            }
            if !q.kinds.is_empty() {
                let mut marks = Vec::new();
                for k in &q.kinds {
                    params.push(Sql::Text((*k).to_owned()));
                    marks.push(format!("?{}", params.len()));
                }
                sql.push_str(&format!(" AND kind IN ({})", marks.join(", ")));
            }
            params.push(Sql::Integer(i64::from(q.limit)));
            sql.push_str(&format!(" ORDER BY position LIMIT ?{}", params.len()));
            let items = read_changes(conn, &sql, rusqlite::params_from_iter(params), &render)?
                .into_iter()
                .map(|c| (c.position, c.body))
                .collect();
            // After the items: a purge that raced them shows here.
            let purged_through = counter(conn, "changes_purged")?;
            Ok(FeedRead {
                items,
                purged_through,
            })
        })
        .await
    }

    async fn purge_changes(&self, before: Timestamp, limit: u32) -> Result<u64> {
        self.write(move |conn, _| {
            let tx = immediate(conn)?;
            // Ended webhook deliveries go with the changes of their time.
            let ended = tx
                .prepare_cached(
                    "DELETE FROM webhook_deliveries WHERE seq IN (SELECT seq FROM webhook_deliveries \
                     WHERE state <> 'pending' AND created_at < ?1 LIMIT ?2)",
                )?
                .execute((before.0, i64::from(limit)))? as u64;
            // The oldest changes, up to the first one still within retention.
            let oldest: Vec<(i64, i64)> = tx
                .prepare_cached("SELECT position, at FROM changes ORDER BY position LIMIT ?1")?
                .query_map([i64::from(limit)], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let Some(upto) = crate::store::webhook_rows::purge_upto(&oldest, before) else {
                tx.commit()?;
                return Ok(ended);
            };
            let n = tx
                .prepare_cached("DELETE FROM changes WHERE position <= ?1")?
                .execute([upto])?;
            tx.prepare_cached(
                "UPDATE counters SET value = max(value, ?1) WHERE name = 'changes_purged'",
            )?
            .execute([upto])?;
            purge_deleted(&tx, upto)?;
            tx.commit()?;
            Ok(n as u64 + ended)
        })
        .await
    }
}
