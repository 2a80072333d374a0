//! SQLite: the figures `/metrics` reads from the store.

use crate::store::StatsStore;
use async_trait::async_trait;
use std::sync::atomic::Ordering;

use super::{SqliteStore, lock};
use crate::store::{JobStats, PoolStats, Result};

#[async_trait]
impl StatsStore for SqliteStore {
    async fn job_stats(&self) -> Result<JobStats> {
        self.read(|conn, _| {
            let mut stmt = conn.prepare_cached(
                "SELECT state, COUNT(*), COALESCE(SUM(total - processed), 0) FROM jobs GROUP BY state",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })?;
            Ok(JobStats::from_counts(rows.collect::<rusqlite::Result<Vec<_>>>()?))
        })
        .await
    }

    fn pool_stats(&self) -> PoolStats {
        let idle_readers = lock(&self.inner.readers).len() as u64;
        let writer_idle = u64::from(self.inner.writer.try_lock().is_ok());
        PoolStats {
            in_use: self.inner.busy_readers.load(Ordering::Relaxed) + (1 - writer_idle),
            idle: idle_readers + writer_idle,
            // Readers beyond the idle ones are opened on demand: no fixed bound.
            max: None,
        }
    }
}
