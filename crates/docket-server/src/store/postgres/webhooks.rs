//! PostgreSQL: webhooks, the fan-out of the change feed into deliveries (one node at a
//! time, under the `webhook_fanout` counter row's lock), and the deliveries' attempts
//! (claimed with `SKIP LOCKED`, so each is attempted by one node at a time).

use async_trait::async_trait;
use sqlx::AssertSqlSafe;

use super::rows::{PgQuery, webhook_row};
use super::{PgStore, Tx, next_commit};
use crate::domain::Timestamp;
use crate::domain::webhook::{
    Delivery, DeliveryAttempt, DeliveryState, DeliveryStats, DueDelivery, NewDelivery, Webhook,
    disabled_reason, should_disable,
};
use crate::store::webhook_rows::{
    self, DELIVERY_COLUMNS, WEBHOOK_COLUMNS, events_text, filter_text,
};
use crate::store::{CommitSeq, Error, Paged, Result, WebhookStore, page_of};

async fn load(tx: &mut Tx, id: &str, lock: bool) -> Result<Option<(i64, Webhook, i64)>> {
    let sql = format!(
        "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE webhook_id = $1{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    row.as_ref().map(webhook_row).transpose()
}

async fn load_delivery<'e, E: sqlx::PgExecutor<'e>>(ex: E, seq: i64) -> Result<Delivery> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE seq = $1"
    )))
    .bind(seq)
    .fetch_one(ex)
    .await?;
    Ok(webhook_rows::delivery(&row)?.1)
}

/// Binds `$1`..`$8`: a webhook's id, url, events, filter, description, enabled,
/// disabled reason and secret.
fn bind_webhook<'q>(q: PgQuery<'q>, w: &'q Webhook) -> PgQuery<'q> {
    q.bind(&w.id)
        .bind(&w.url)
        .bind(events_text(w))
        .bind(filter_text(w))
        .bind(&w.description)
        .bind(w.enabled)
        .bind(&w.disabled_reason)
        .bind(&w.secret)
}

#[async_trait]
impl WebhookStore for PgStore {
    async fn create_webhook(&self, w: Webhook) -> Result<CommitSeq> {
        let mut tx = self.begin().await?;
        let commit = next_commit(&mut tx).await?;
        bind_webhook(
            sqlx::query(
                "INSERT INTO webhooks (webhook_id, url, events, filter, description, enabled, disabled_reason, \
                 secret, cursor, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
            ),
            &w,
        )
        .bind(commit.0)
        .bind(w.created_at.0)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(commit)
    }

    async fn list_webhooks(&self) -> Result<Vec<Webhook>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks ORDER BY seq"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| webhook_row(r).map(|(_, w, _)| w))
            .collect()
    }

    async fn get_webhook(&self, id: &str) -> Result<Option<Webhook>> {
        let mut tx = self.begin().await?;
        let w = load(&mut tx, id, false).await?.map(|(_, w, _)| w);
        tx.commit().await?;
        Ok(w)
    }

    async fn save_webhook(&self, w: Webhook) -> Result<CommitSeq> {
        let mut tx = self.begin().await?;
        let (old_secret, old_until) = match &w.old_secret {
            Some((s, t)) => (Some(s.clone()), Some(t.0)),
            None => (None, None),
        };
        let n = bind_webhook(
            sqlx::query(
                "UPDATE webhooks SET url = $2, events = $3, filter = $4, description = $5, enabled = $6, \
                 disabled_reason = $7, secret = $8, old_secret = $9, old_secret_until = $10, \
                 failing_since = $11, updated_at = $12 WHERE webhook_id = $1",
            ),
            &w,
        )
        .bind(old_secret)
        .bind(old_until)
        .bind(w.failing_since.map(|t| t.0))
        .bind(w.updated_at.0)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(Error::NotFound);
        }
        let commit = next_commit(&mut tx).await?;
        tx.commit().await?;
        Ok(commit)
    }

    async fn delete_webhook(&self, id: &str) -> Result<CommitSeq> {
        let mut tx = self.begin().await?;
        let Some((seq, ..)) = load(&mut tx, id, true).await? else {
            return Err(Error::NotFound);
        };
        for sql in [
            "DELETE FROM webhook_deliveries WHERE webhook_seq = $1",
            "DELETE FROM webhooks WHERE seq = $1",
        ] {
            sqlx::query(sql).bind(seq).execute(&mut *tx).await?;
        }
        let commit = next_commit(&mut tx).await?;
        tx.commit().await?;
        Ok(commit)
    }

    async fn fan_out(&self, now: Timestamp, retry_for_ms: i64, limit: u32) -> Result<u64> {
        // Most calls find nothing to do (no webhook, or caught up): one read says so.
        let behind: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM webhooks w \
             WHERE w.cursor < (SELECT COALESCE(max(position), 0) FROM changes))",
        )
        .fetch_one(&self.pool)
        .await?;
        if !behind {
            return Ok(0);
        }
        super::fan_out::fan_out(self.begin().await?, now, retry_for_ms, limit, &self.render).await
    }

    async fn add_delivery(&self, webhook_id: &str, d: NewDelivery) -> Result<Delivery> {
        let mut tx = self.begin().await?;
        let Some((seq, ..)) = load(&mut tx, webhook_id, false).await? else {
            return Err(Error::NotFound);
        };
        let dseq: i64 = sqlx::query_scalar(
            "INSERT INTO webhook_deliveries (delivery_id, webhook_seq, position, kind, case_id, lane, payload, \
             state, next_attempt_at, retry_until, created_at) \
             VALUES ($1, $2, NULL, $3, NULL, $1, $4, 'pending', $5, $6, $5) RETURNING seq",
        )
        .bind(&d.id)
        .bind(seq)
        .bind(&d.kind)
        .bind(&d.payload)
        .bind(d.at.0)
        .bind(d.retry_until.0)
        .fetch_one(&mut *tx)
        .await?;
        let delivery = load_delivery(&mut *tx, dseq).await?;
        tx.commit().await?;
        Ok(delivery)
    }

    async fn claim_deliveries(
        &self,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
        limit: u32,
    ) -> Result<Vec<DueDelivery>> {
        let mut tx = self.begin().await?;
        let claimed: Vec<webhook_rows::ClaimedRow> = sqlx::query_as(
            // The first pending delivery of each lane, by one ordered pass over the lane
            // index (a per-row NOT EXISTS is planned as a nested loop over the whole
            // backlog while the table's statistics are young).
            "UPDATE webhook_deliveries SET claimed_by = $3, claimed_until = $4 WHERE seq IN ( \
                 SELECT d.seq FROM webhook_deliveries d JOIN webhooks w ON w.seq = d.webhook_seq \
                 WHERE d.seq IN (SELECT DISTINCT ON (webhook_seq, lane) seq FROM webhook_deliveries \
                     WHERE state = 'pending' ORDER BY webhook_seq, lane, seq) \
                 AND d.next_attempt_at <= $1 \
                 AND (d.claimed_until IS NULL OR d.claimed_until < $1) AND w.enabled \
                 ORDER BY d.next_attempt_at, d.seq LIMIT $2 FOR UPDATE OF d SKIP LOCKED) \
             RETURNING seq, delivery_id, payload, attempts, retry_until, webhook_seq",
        )
        .bind(now.0)
        .bind(i64::from(limit))
        .bind(owner)
        .bind(until.0)
        .fetch_all(&mut *tx)
        .await?;
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks"
        )))
        .fetch_all(&mut *tx)
        .await?;
        let hooks = rows.iter().map(webhook_row).collect::<Result<Vec<_>>>()?;
        let out = webhook_rows::due(claimed, &hooks);
        tx.commit().await?;
        Ok(out)
    }

    async fn release_delivery(&self, id: &str) -> Result<()> {
        sqlx::query(
            "UPDATE webhook_deliveries SET claimed_by = NULL, claimed_until = NULL WHERE delivery_id = $1",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn record_delivery(&self, id: &str, a: DeliveryAttempt) -> Result<()> {
        let mut tx = self.begin().await?;
        let state = a.state();
        let webhook_seq: Option<i64> = sqlx::query_scalar(
            "UPDATE webhook_deliveries SET state = $2, attempts = attempts + 1, last_attempt_at = $3, \
             last_status_code = $4, last_error = $5, next_attempt_at = COALESCE($6, next_attempt_at), \
             claimed_by = NULL, claimed_until = NULL WHERE delivery_id = $1 RETURNING webhook_seq",
        )
        .bind(id)
        .bind(state.as_str())
        .bind(a.at.0)
        .bind(a.status_code.map(i64::from))
        .bind(&a.error)
        .bind(a.next.map(|t| t.0))
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(seq) = webhook_seq {
            if a.ok {
                sqlx::query("UPDATE webhooks SET failing_since = NULL WHERE seq = $1")
                    .bind(seq)
                    .execute(&mut *tx)
                    .await?;
            } else {
                let since: i64 = sqlx::query_scalar(
                    "UPDATE webhooks SET failing_since = COALESCE(failing_since, $2) WHERE seq = $1 \
                     RETURNING failing_since",
                )
                .bind(seq)
                .bind(a.at.0)
                .fetch_one(&mut *tx)
                .await?;
                if should_disable(Timestamp(since), a.at, a.disable_after_hours) {
                    sqlx::query(
                        "UPDATE webhooks SET enabled = FALSE, disabled_reason = $2, updated_at = $3 \
                         WHERE seq = $1 AND enabled",
                    )
                    .bind(seq)
                    .bind(disabled_reason(a.disable_after_hours))
                    .bind(a.at.0)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn list_deliveries(
        &self,
        webhook_id: &str,
        state: Option<DeliveryState>,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Option<Paged<Delivery>>> {
        let mut tx = self.begin().await?;
        let Some((seq, ..)) = load(&mut tx, webhook_id, false).await? else {
            return Ok(None);
        };
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_seq = $1 AND seq < $2 \
             AND ($3::text IS NULL OR state = $3) ORDER BY seq DESC LIMIT $4"
        )))
        .bind(seq)
        .bind(after.unwrap_or(i64::MAX))
        .bind(state.map(DeliveryState::as_str))
        .bind(i64::from(limit) + 1)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let rows = rows
            .iter()
            .map(webhook_rows::delivery)
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(page_of(rows, limit)))
    }

    async fn redeliver_webhook(
        &self,
        webhook_id: &str,
        delivery_id: &str,
        now: Timestamp,
        retry_until: Timestamp,
    ) -> Result<Option<Delivery>> {
        let mut tx = self.begin().await?;
        let Some((seq, ..)) = load(&mut tx, webhook_id, false).await? else {
            return Err(Error::NotFound);
        };
        let dseq: Option<i64> = sqlx::query_scalar(
            "UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = $3, retry_until = $4, \
             claimed_by = NULL, claimed_until = NULL WHERE webhook_seq = $1 AND delivery_id = $2 RETURNING seq",
        )
        .bind(seq)
        .bind(delivery_id)
        .bind(now.0)
        .bind(retry_until.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(dseq) = dseq else { return Ok(None) };
        let d = load_delivery(&mut *tx, dseq).await?;
        tx.commit().await?;
        Ok(Some(d))
    }

    async fn delivery_stats(&self) -> Result<DeliveryStats> {
        let (n, oldest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT count(*), min(created_at) FROM webhook_deliveries WHERE state = 'pending'",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(DeliveryStats {
            pending: u64::try_from(n).unwrap_or(0),
            oldest_pending: oldest.map(Timestamp),
        })
    }
}
