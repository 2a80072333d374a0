//! PostgreSQL: the cluster side of the store. Signals travel on one `NOTIFY` channel;
//! those about writes are sent inside the writing transaction, so every node receives
//! them in commit order. Nodes record their heartbeat (by the store's clock) and how far
//! they have applied; each heartbeat is also a signal, which renews the sender's cache
//! lease when it hears it back (see `engine/coherence.rs`).

use crate::store::NodeStore;
use async_trait::async_trait;
use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::sync::mpsc;

use super::{PgStore, Tx, next_commit};
use crate::store::{CommitSeq, Result, Signal};

/// The channel every node of one store listens on, as PostgreSQL computes it from the
/// session's schema: `docket` in the default schema, `docket_S` in schema `S`. `NOTIFY`
/// channels are per database, not per schema, and clusters in two schemas of one
/// database must not hear each other (another cluster's commit positions would let a
/// node claim it applied invalidations it never saw). Computed in SQL, so every
/// statement that signals agrees with the listener without carrying the name around.
macro_rules! channel_sql {
    () => {
        "CASE WHEN current_schema() = 'public' THEN 'docket' ELSE 'docket_' || current_schema() END"
    };
}

const NOTIFY_SQL: &str = concat!("SELECT pg_notify(", channel_sql!(), ", $1)");
/// The channel, as an SQL expression, for statements that signal on their own.
pub(super) const CHANNEL_EXPR: &str = channel_sql!();
const CHANNEL_SQL: &str = concat!("SELECT ", channel_sql!());

/// Sends a signal as part of the caller's transaction (delivered at commit).
pub(super) async fn notify(tx: &mut Tx, signal: &Signal) -> Result<()> {
    for payload in signal.encode() {
        sqlx::query(NOTIFY_SQL)
            .bind(payload)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// How long the listener waits before trying to listen again, at most.
const RECONNECT_MAX: Duration = Duration::from_secs(2);

#[async_trait]
impl NodeStore for PgStore {
    fn single_node(&self) -> bool {
        false
    }

    /// Listens on its own connection, and makes it again whenever it fails. A lost
    /// connection loses the signals sent meanwhile, so the node hears
    /// [`Signal::Lost`] at once and, once listening again, [`Signal::Resync`] with the
    /// commit read *after* `LISTEN` took effect: a later commit's signals reach the new
    /// connection (commits take positions in commit order), earlier ones may be gone.
    /// sqlx's own reconnect is not used: it resumes silently when its first attempt
    /// fails, which is the gap that left caches stale.
    async fn subscribe(&self) -> Result<Option<mpsc::Receiver<Signal>>> {
        let first = self.listen_from_now().await?;
        let (tx, rx) = mpsc::channel(4096);
        let store = Self {
            pool: self.pool.clone(),
            workflow: self.workflow.clone(),
            render: self.render.clone(),
        };
        tokio::spawn(async move {
            let mut listening = Some(first);
            let mut backoff = Duration::from_millis(50);
            loop {
                let (mut listener, position) = match listening.take() {
                    Some(l) => l,
                    None => match store.listen_from_now().await {
                        Ok(l) => {
                            tracing::info!("listening to the other nodes again");
                            backoff = Duration::from_millis(50);
                            l
                        }
                        Err(_) => {
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(RECONNECT_MAX);
                            continue;
                        }
                    },
                };
                if tx.send(Signal::Resync { position }).await.is_err() {
                    return;
                }
                let error = loop {
                    match listener.try_recv().await {
                        Ok(Some(n)) => {
                            if let Some(s) = Signal::decode(n.payload()) {
                                if tx.send(s).await.is_err() {
                                    return;
                                }
                            }
                        }
                        Ok(None) => break "the connection closed".to_owned(),
                        Err(e) => break e.to_string(),
                    }
                };
                tracing::warn!(
                    error = %error,
                    "lost the notification connection; this node stops serving from its cache until it listens again"
                );
                if tx.send(Signal::Lost).await.is_err() {
                    return;
                }
            }
        });
        Ok(Some(rx))
    }

    async fn publish(&self, signal: Signal) -> Result<()> {
        let mut tx = self.begin().await?;
        notify(&mut tx, &signal).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn sweep(&self) -> Result<CommitSeq> {
        let mut tx = self.begin().await?;
        let commit = next_commit(&mut tx).await?;
        notify(&mut tx, &Signal::Sweep { commit: commit.0 }).await?;
        tx.commit().await?;
        Ok(commit)
    }

    async fn heartbeat(&self, node: &str, applied: i64, beat: u64) -> Result<()> {
        let mut tx = self.begin().await?;
        // The store's clock, so every node judges liveness by one clock.
        sqlx::query(
            "INSERT INTO nodes (node_id, started_at, heartbeat_at, applied_commit) \
             VALUES ($1, (extract(epoch FROM clock_timestamp()) * 1000)::bigint, \
                     (extract(epoch FROM clock_timestamp()) * 1000)::bigint, $2) \
             ON CONFLICT (node_id) DO UPDATE SET heartbeat_at = GREATEST(nodes.heartbeat_at, EXCLUDED.heartbeat_at), \
                 applied_commit = GREATEST(nodes.applied_commit, EXCLUDED.applied_commit)",
        )
        .bind(node)
        .bind(applied)
        .execute(&mut *tx)
        .await?;
        let signal = Signal::Beat {
            node: node.to_owned(),
            seq: beat,
        };
        notify(&mut tx, &signal).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn nodes_behind(&self, commit: i64, ttl_ms: i64, except: &str) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM nodes WHERE node_id <> $2 AND applied_commit < $3 \
             AND heartbeat_at >= (extract(epoch FROM clock_timestamp()) * 1000)::bigint - $1",
        )
        .bind(ttl_ms)
        .bind(except)
        .bind(commit)
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

impl PgStore {
    /// A listener on the channel, and the latest commit read after it listens.
    async fn listen_from_now(&self) -> Result<(PgListener, i64)> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        // A lost connection ends `try_recv` with `Ok(None)` at once; the loop above
        // makes the next one (and says so).
        listener.eager_reconnect(false);
        let channel: String = sqlx::query_scalar(CHANNEL_SQL)
            .fetch_one(&self.pool)
            .await?;
        listener.listen(&channel).await?;
        let position = super::counter(&self.pool, "commit").await?;
        Ok((listener, position))
    }
}
