//! PostgreSQL: the figures `/metrics` reads from the store.

use crate::store::StatsStore;
use async_trait::async_trait;
use sqlx::Row as _;

use super::PgStore;
use crate::domain::JobState;
use crate::store::{JobStats, PoolStats, Result};

#[async_trait]
impl StatsStore for PgStore {
    async fn job_stats(&self) -> Result<JobStats> {
        let rows = sqlx::query(
            "SELECT state, COUNT(*), COALESCE(SUM(total - processed), 0)::bigint FROM jobs GROUP BY state",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut stats = JobStats::default();
        for r in rows {
            let state: String = r.try_get(0)?;
            let n: i64 = r.try_get(1)?;
            let left: i64 = r.try_get(2)?;
            let Ok(state) = state.parse::<JobState>() else {
                continue;
            };
            if !state.is_finished() {
                stats.queued_items += u64::try_from(left).unwrap_or(0);
            }
            stats.by_state.push((state, u64::try_from(n).unwrap_or(0)));
        }
        Ok(stats)
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
