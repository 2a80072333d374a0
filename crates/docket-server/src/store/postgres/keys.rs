//! PostgreSQL: API keys, shared by every node (a key made on one node works on all).

use crate::store::KeyStore;
use async_trait::async_trait;
use sqlx::Row as _;
use sqlx::postgres::PgRow;

use super::{PgStore, next_commit};
use crate::domain::{ApiKey, CommitSeq, Timestamp};
use crate::store::keys::{hash_hex, key_from_columns, scopes_text};
use crate::store::{Error, Result};

const KEY_COLUMNS: &str = "key_id, name, scopes, token_hash, created_at, revoked_at";

fn key_from_row(r: &PgRow) -> Result<ApiKey> {
    let scopes: String = r.try_get(2)?;
    let hash: String = r.try_get(3)?;
    key_from_columns(
        r.try_get(0)?,
        r.try_get(1)?,
        &scopes,
        &hash,
        r.try_get(4)?,
        r.try_get(5)?,
    )
}

#[async_trait]
impl KeyStore for PgStore {
    async fn create_key(&self, key: ApiKey) -> Result<CommitSeq> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO api_keys (key_id, name, scopes, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&key.id)
        .bind(&key.name)
        .bind(scopes_text(&key.scopes))
        .bind(hash_hex(&key.token_hash))
        .bind(key.created_at.0)
        .execute(&mut *tx)
        .await?;
        let commit = next_commit(&mut tx).await?;
        tx.commit().await?;
        Ok(commit)
    }

    async fn list_keys(&self) -> Result<Vec<ApiKey>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, key_id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(key_from_row).collect()
    }

    async fn revoke_key(&self, id: &str, now: Timestamp) -> Result<(ApiKey, CommitSeq)> {
        // COALESCE keeps the first revocation time when the key is revoked again. The
        // key's console sessions end with it, in the same statement (so the same commit).
        let sql = format!(
            "WITH ended AS (DELETE FROM console_sessions WHERE key_id = $1) \
             UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE key_id = $1 RETURNING {KEY_COLUMNS}"
        );
        let mut tx = self.begin().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(now.0)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(Error::NotFound)?;
        let key = key_from_row(&row)?;
        let commit = next_commit(&mut tx).await?;
        tx.commit().await?;
        Ok((key, commit))
    }
}
