//! PostgreSQL: the cluster side of the store. Signals travel on one `NOTIFY` channel;
//! those about writes are sent inside the writing transaction, so every node receives
//! them in commit order. Nodes record their heartbeat and how far they have applied.

use sqlx::postgres::PgListener;
use tokio::sync::mpsc;

use super::{PgStore, Tx, next_commit};
use crate::domain::Timestamp;
use crate::store::{CommitSeq, Result, Signal};

/// The channel every node listens on.
const CHANNEL: &str = "docket";

/// Sends a signal as part of the caller's transaction (delivered at commit).
pub(super) async fn notify(tx: &mut Tx, signal: &Signal) -> Result<()> {
    for payload in signal.encode() {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(payload)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

impl PgStore {
    pub(super) async fn subscribe_impl(&self) -> Result<Option<mpsc::Receiver<Signal>>> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANNEL).await?;
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(async move {
            loop {
                match listener.try_recv().await {
                    Ok(Some(n)) => {
                        if let Some(s) = Signal::decode(n.payload()) {
                            if tx.send(s).await.is_err() {
                                return;
                            }
                        }
                    }
                    // The connection dropped (and will be re-made): signals sent meanwhile
                    // are lost, so tell the node to forget everything it cached.
                    Ok(None) => {
                        tracing::warn!("lost the notification connection; dropping the cache");
                        if tx.send(Signal::Sweep { commit: i64::MAX }).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "notification listener failed; retrying");
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    }
                }
            }
        });
        Ok(Some(rx))
    }

    pub(super) async fn publish_impl(&self, signal: Signal) -> Result<()> {
        let mut tx = self.begin().await?;
        notify(&mut tx, &signal).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn sweep_impl(&self) -> Result<CommitSeq> {
        let mut tx = self.begin().await?;
        let commit = next_commit(&mut tx).await?;
        notify(&mut tx, &Signal::Sweep { commit: commit.0 }).await?;
        tx.commit().await?;
        Ok(commit)
    }

    pub(super) async fn heartbeat_impl(
        &self,
        node: &str,
        applied: i64,
        now: Timestamp,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO nodes (node_id, started_at, heartbeat_at, applied_commit) VALUES ($1, $2, $2, $3) \
             ON CONFLICT (node_id) DO UPDATE SET heartbeat_at = $2, applied_commit = GREATEST(nodes.applied_commit, $3)",
        )
        .bind(node)
        .bind(now.0)
        .bind(applied)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn nodes_behind_impl(
        &self,
        commit: i64,
        live_since: Timestamp,
        except: &str,
    ) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM nodes WHERE heartbeat_at >= $1 AND node_id <> $2 AND applied_commit < $3",
        )
        .bind(live_since.0)
        .bind(except)
        .bind(commit)
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
