//! SQLite: API keys.

use crate::store::KeyStore;
use async_trait::async_trait;
use rusqlite::OptionalExtension;

use super::SqliteStore;
use super::cases::immediate;
use super::rows::next_commit;
use crate::domain::{ApiKey, CommitSeq, Timestamp};
use crate::store::keys::{hash_hex, key_from_columns, scopes_text};
use crate::store::{Error, Result};

const KEY_COLUMNS: &str = "key_id, name, scopes, token_hash, created_at, revoked_at";

fn key_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<ApiKey>> {
    let scopes: String = r.get(2)?;
    let hash: String = r.get(3)?;
    Ok(key_from_columns(
        r.get(0)?,
        r.get(1)?,
        &scopes,
        &hash,
        r.get(4)?,
        r.get(5)?,
    ))
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn create_key(&self, key: ApiKey) -> Result<CommitSeq> {
        self.write(move |conn, _| {
            let tx = immediate(conn)?;
            tx.execute(
                "INSERT INTO api_keys (key_id, name, scopes, token_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                (
                    &key.id,
                    &key.name,
                    scopes_text(&key.scopes),
                    hash_hex(&key.token_hash),
                    key.created_at.0,
                ),
            )?;
            let commit = next_commit(&tx)?;
            tx.commit()?;
            Ok(commit)
        })
        .await
    }

    async fn list_keys(&self) -> Result<Vec<ApiKey>> {
        self.read(|conn, _| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, key_id"
            ))?;
            let rows = stmt.query_map([], key_from_row)?;
            rows.map(|r| r?).collect()
        })
        .await
    }

    async fn revoke_key(&self, id: &str, now: Timestamp) -> Result<(ApiKey, CommitSeq)> {
        let id = id.to_owned();
        self.write(move |conn, _| {
            let tx = immediate(conn)?;
            tx.execute(
                "UPDATE api_keys SET revoked_at = ?2 WHERE key_id = ?1 AND revoked_at IS NULL",
                (&id, now.0),
            )?;
            // The key's console sessions end with it, in the same commit.
            tx.execute("DELETE FROM console_sessions WHERE key_id = ?1", [&id])?;
            let key = tx
                .query_row(
                    &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE key_id = ?1"),
                    [&id],
                    key_from_row,
                )
                .optional()?
                .ok_or(Error::NotFound)??;
            let commit = next_commit(&tx)?;
            tx.commit()?;
            Ok((key, commit))
        })
        .await
    }
}
