//! PostgreSQL: the figures `/metrics` reads from the store.

use crate::store::StatsStore;
use async_trait::async_trait;

use super::PgStore;
use crate::store::{JobStats, PoolStats, Result};

#[async_trait]
impl StatsStore for PgStore {
    async fn job_stats(&self) -> Result<JobStats> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT state, COUNT(*), COALESCE(SUM(total - processed), 0)::bigint FROM jobs GROUP BY state",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(JobStats::from_counts(rows))
    }

    fn pool_stats(&self) -> PoolStats {
        let open = u64::from(self.pool.size());
        let idle = self.pool.num_idle() as u64;
        PoolStats {
            in_use: open.saturating_sub(idle),
            idle,
            max: Some(u64::from(self.pool.options().get_max_connections())),
        }
    }
}
