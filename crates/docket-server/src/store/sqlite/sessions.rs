//! SQLite: console sessions, by the hash of their token.

use crate::store::SessionStore;
use async_trait::async_trait;
use rusqlite::OptionalExtension;

use super::SqliteStore;
use crate::domain::{ConsoleSession, Timestamp};
use crate::store::Result;
use crate::store::keys::hash_hex;

#[async_trait]
impl SessionStore for SqliteStore {
    async fn create_session(&self, s: ConsoleSession) -> Result<()> {
        self.write(move |conn, _| {
            conn.execute(
                "INSERT INTO console_sessions (session_hash, key_id, created_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4)",
                (
                    hash_hex(&s.token_hash),
                    &s.key_id,
                    s.created_at.0,
                    s.expires_at.0,
                ),
            )?;
            Ok(())
        })
        .await
    }

    async fn session(&self, hash: [u8; 32]) -> Result<Option<ConsoleSession>> {
        self.read(move |conn, _| {
            let row = conn
                .prepare_cached(
                    "SELECT key_id, created_at, expires_at FROM console_sessions \
                     WHERE session_hash = ?1",
                )?
                .query_row([hash_hex(&hash)], |r| {
                    Ok(ConsoleSession {
                        token_hash: hash,
                        key_id: r.get(0)?,
                        created_at: Timestamp(r.get(1)?),
                        expires_at: Timestamp(r.get(2)?),
                    })
                })
                .optional()?;
            Ok(row)
        })
        .await
    }

    async fn end_session(&self, hash: [u8; 32]) -> Result<()> {
        self.write(move |conn, _| {
            conn.execute(
                "DELETE FROM console_sessions WHERE session_hash = ?1",
                [hash_hex(&hash)],
            )?;
            Ok(())
        })
        .await
    }

    async fn purge_sessions(&self, now: Timestamp) -> Result<u64> {
        self.write(move |conn, _| {
            let n = conn.execute(
                "DELETE FROM console_sessions WHERE expires_at <= ?1",
                [now.0],
            )?;
            Ok(n as u64)
        })
        .await
    }
}
