//! PostgreSQL: console sessions, shared by every node (a session made on one node is
//! accepted by all, and one ended on any node is ended on all at once).

use crate::store::SessionStore;
use async_trait::async_trait;
use sqlx::Row as _;

use super::PgStore;
use crate::domain::{ConsoleSession, Timestamp};
use crate::store::Result;
use crate::store::keys::hash_hex;

#[async_trait]
impl SessionStore for PgStore {
    async fn create_session(&self, s: ConsoleSession) -> Result<()> {
        sqlx::query(
            "INSERT INTO console_sessions (session_hash, key_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(hash_hex(&s.token_hash))
        .bind(&s.key_id)
        .bind(s.created_at.0)
        .bind(s.expires_at.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn session(&self, hash: [u8; 32]) -> Result<Option<ConsoleSession>> {
        let row = sqlx::query(
            "SELECT key_id, created_at, expires_at FROM console_sessions WHERE session_hash = $1",
        )
        .bind(hash_hex(&hash))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(ConsoleSession {
                token_hash: hash,
                key_id: r.try_get(0)?,
                created_at: Timestamp(r.try_get(1)?),
                expires_at: Timestamp(r.try_get(2)?),
            })
        })
        .transpose()
    }

    async fn end_session(&self, hash: [u8; 32]) -> Result<()> {
        sqlx::query("DELETE FROM console_sessions WHERE session_hash = $1")
            .bind(hash_hex(&hash))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn purge_sessions(&self, now: Timestamp) -> Result<u64> {
        let done = sqlx::query("DELETE FROM console_sessions WHERE expires_at <= $1")
            .bind(now.0)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
