//! SQLite: webhooks, the fan-out of the change feed into deliveries, and the
//! deliveries' attempts. One writer: the fan-out needs no lock of its own.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row};

use super::SqliteStore;
use super::cases::immediate;
use super::rows::next_commit;
use super::thin::read_after;
use crate::domain::Timestamp;
use crate::domain::webhook::{
    Delivery, DeliveryAttempt, DeliveryState, DeliveryStats, DueDelivery, NewDelivery, Webhook,
    disabled_reason, should_disable,
};
use crate::store::decode::FeedChange;
use crate::store::webhook_rows::{
    self, ClaimedRow, DELIVERY_COLUMNS, WEBHOOK_COLUMNS, events_text, filter_text,
};
use crate::store::{CommitSeq, Error, Paged, Result, WebhookStore, page_of};

fn webhook_row(r: &Row<'_>) -> rusqlite::Result<(i64, Webhook, i64)> {
    webhook_rows::webhook(r)
}

/// What the fan-out's plan depends on: each webhook as last written, and its cursor.
fn as_read(hooks: &[(i64, Webhook, i64)]) -> Vec<(i64, i64, i64)> {
    hooks
        .iter()
        .map(|(seq, w, cursor)| (*seq, w.updated_at.0, *cursor))
        .collect()
}

fn delivery_row(r: &Row<'_>) -> rusqlite::Result<(i64, Delivery)> {
    webhook_rows::delivery(r)
}

fn load(conn: &rusqlite::Connection, id: &str) -> Result<Option<(i64, Webhook, i64)>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE webhook_id = ?1"
        ))?
        .query_row([id], webhook_row)
        .optional()?)
}

fn load_delivery(conn: &rusqlite::Connection, seq: i64) -> Result<Delivery> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE seq = ?1"
        ))?
        .query_row([seq], delivery_row)?
        .1)
}

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn create_webhook(&self, w: Webhook) -> Result<CommitSeq> {
        self.write(move |conn, _| {
            let tx = immediate(conn)?;
            let commit = next_commit(&tx)?;
            tx.execute(
                "INSERT INTO webhooks (webhook_id, url, events, filter, description, enabled, \
                 disabled_reason, secret, old_secret, old_secret_until, failing_since, cursor, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, NULL, NULL, ?9, ?10, ?10)",
                rusqlite::params![
                    w.id, w.url, events_text(&w), filter_text(&w), w.description, w.enabled,
                    w.disabled_reason, w.secret, commit.0, w.created_at.0
                ],
            )?;
            tx.commit()?;
            Ok(commit)
        })
        .await
    }

    async fn list_webhooks(&self) -> Result<Vec<Webhook>> {
        self.read(|conn, _| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {WEBHOOK_COLUMNS} FROM webhooks ORDER BY seq"
            ))?;
            let rows = stmt.query_map([], webhook_row)?;
            Ok(rows
                .map(|r| r.map(|(_, w, _)| w))
                .collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn get_webhook(&self, id: &str) -> Result<Option<Webhook>> {
        let id = id.to_owned();
        self.read(move |conn, _| Ok(load(conn, &id)?.map(|(_, w, _)| w)))
            .await
    }

    async fn save_webhook(&self, w: Webhook) -> Result<CommitSeq> {
        self.write(move |conn, _| {
            let tx = immediate(conn)?;
            let (old_secret, old_until) = match &w.old_secret {
                Some((s, t)) => (Some(s.clone()), Some(t.0)),
                None => (None, None),
            };
            let n = tx.execute(
                "UPDATE webhooks SET url = ?2, events = ?3, filter = ?4, description = ?5, enabled = ?6, \
                 disabled_reason = ?7, secret = ?8, old_secret = ?9, old_secret_until = ?10, \
                 failing_since = ?11, updated_at = ?12 WHERE webhook_id = ?1",
                rusqlite::params![
                    w.id, w.url, events_text(&w), filter_text(&w), w.description, w.enabled,
                    w.disabled_reason, w.secret, old_secret, old_until,
                    w.failing_since.map(|t| t.0), w.updated_at.0
                ],
            )?;
            if n == 0 {
                return Err(Error::NotFound);
            }
            let commit = next_commit(&tx)?;
            tx.commit()?;
            Ok(commit)
        })
        .await
    }

    async fn delete_webhook(&self, id: &str) -> Result<CommitSeq> {
        let id = id.to_owned();
        self.write(move |conn, _| {
            let tx = immediate(conn)?;
            let Some((seq, ..)) = load(&tx, &id)? else {
                return Err(Error::NotFound);
            };
            tx.execute(
                "DELETE FROM webhook_deliveries WHERE webhook_seq = ?1",
                [seq],
            )?;
            tx.execute("DELETE FROM webhooks WHERE seq = ?1", [seq])?;
            let commit = next_commit(&tx)?;
            tx.commit()?;
            Ok(commit)
        })
        .await
    }

    async fn fan_out(&self, now: Timestamp, retry_for_ms: i64, limit: u32) -> Result<u64> {
        // The changes are read, rendered and matched on a reader, off the one writer's
        // path; the writer only stores the deliveries, if the webhooks are still as read
        // (a webhook written meanwhile: read again, at the next call).
        let render = self.render();
        let read = self
            .read(move |conn, _| {
                let hooks: Vec<(i64, Webhook, i64)> = conn
                    .prepare_cached(&format!(
                        "SELECT {WEBHOOK_COLUMNS} FROM webhooks ORDER BY seq"
                    ))?
                    .query_map([], webhook_row)?
                    .collect::<rusqlite::Result<_>>()?;
                let Some(from) = hooks.iter().map(|h| h.2).min() else {
                    return Ok(None);
                };
                let changes: Vec<FeedChange> = read_after(conn, from, limit, &render)?;
                let Some(last) = changes.last().map(|c| c.position) else {
                    return Ok(None);
                };
                let planned: Vec<_> = webhook_rows::plan(&hooks, &changes)
                    .into_iter()
                    .map(|(i, p)| {
                        let c = &changes[i];
                        (p, c.position, c.kind.clone(), c.case_id.clone())
                    })
                    .collect();
                Ok(Some((as_read(&hooks), planned, last, changes.len())))
            })
            .await?;
        let Some((seen, planned, last, n)) = read else {
            return Ok(0);
        };
        self.write(move |conn, _| {
            let tx = immediate(conn)?;
            let hooks: Vec<(i64, Webhook, i64)> = tx
                .prepare_cached(&format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks ORDER BY seq"))?
                .query_map([], webhook_row)?
                .collect::<rusqlite::Result<_>>()?;
            if as_read(&hooks) != seen {
                return Ok(0);
            }
            {
                let mut ins = tx.prepare_cached(
                    "INSERT INTO webhook_deliveries (delivery_id, webhook_seq, position, kind, case_id, lane, \
                     payload, state, next_attempt_at, retry_until, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8, ?9, ?8)",
                )?;
                for (p, position, kind, case_id) in &planned {
                    ins.execute(rusqlite::params![
                        p.id, p.webhook_seq, position, kind, case_id, p.lane, p.payload,
                        now.0, now.0.saturating_add(retry_for_ms)
                    ])?;
                }
            }
            tx.prepare_cached("UPDATE webhooks SET cursor = ?1 WHERE cursor < ?1")?
                .execute([last])?;
            tx.commit()?;
            Ok(n as u64)
        })
        .await
    }

    async fn add_delivery(&self, webhook_id: &str, d: NewDelivery) -> Result<Delivery> {
        let webhook_id = webhook_id.to_owned();
        self.write(move |conn, _| {
            let tx = immediate(conn)?;
            let Some((seq, ..)) = load(&tx, &webhook_id)? else {
                return Err(Error::NotFound);
            };
            let dseq: i64 = tx.query_row(
                "INSERT INTO webhook_deliveries (delivery_id, webhook_seq, position, kind, case_id, lane, \
                 payload, state, next_attempt_at, retry_until, created_at) \
                 VALUES (?1, ?2, NULL, ?3, NULL, ?1, ?4, 'pending', ?5, ?6, ?5) RETURNING seq",
                rusqlite::params![d.id, seq, d.kind, d.payload, d.at.0, d.retry_until.0],
                |r| r.get(0),
            )?;
            let delivery = load_delivery(&tx, dseq)?;
            tx.commit()?;
            Ok(delivery)
        })
        .await
    }

    async fn claim_deliveries(
        &self,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
        limit: u32,
    ) -> Result<Vec<DueDelivery>> {
        let owner = owner.to_owned();
        self.write(move |conn, _| {
            let tx = immediate(conn)?;
            let due: Vec<ClaimedRow> = tx
                .prepare_cached(
                    "SELECT d.seq, d.delivery_id, d.payload, d.attempts, d.retry_until, d.webhook_seq \
                     FROM webhook_deliveries d JOIN webhooks w ON w.seq = d.webhook_seq \
                     WHERE d.state = 'pending' AND d.next_attempt_at <= ?1 \
                     AND (d.claimed_until IS NULL OR d.claimed_until < ?1) AND w.enabled \
                     AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.webhook_seq = d.webhook_seq \
                         AND e.lane = d.lane AND e.state = 'pending' AND e.seq < d.seq) \
                     ORDER BY d.next_attempt_at, d.seq LIMIT ?2",
                )?
                .query_map((now.0, i64::from(limit)), |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
                })?
                .collect::<rusqlite::Result<_>>()?;
            for (seq, ..) in &due {
                tx.prepare_cached(
                    "UPDATE webhook_deliveries SET claimed_by = ?2, claimed_until = ?3 WHERE seq = ?1",
                )?
                .execute((seq, &owner, until.0))?;
            }
            let hooks: Vec<(i64, Webhook, i64)> = tx
                .prepare_cached(&format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks"))?
                .query_map([], webhook_row)?
                .collect::<rusqlite::Result<_>>()?;
            let out = webhook_rows::due(due, &hooks);
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    async fn release_delivery(&self, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.write(move |conn, _| {
            conn.execute(
                "UPDATE webhook_deliveries SET claimed_by = NULL, claimed_until = NULL WHERE delivery_id = ?1",
                [&id],
            )?;
            Ok(())
        })
        .await
    }

    async fn record_delivery(&self, id: &str, a: DeliveryAttempt) -> Result<()> {
        let id = id.to_owned();
        self.write(move |conn, _| {
            let tx = immediate(conn)?;
            let state = a.state();
            let webhook_seq: Option<i64> = tx
                .query_row(
                    "UPDATE webhook_deliveries SET state = ?2, attempts = attempts + 1, last_attempt_at = ?3, \
                     last_status_code = ?4, last_error = ?5, next_attempt_at = COALESCE(?6, next_attempt_at), \
                     claimed_by = NULL, claimed_until = NULL WHERE delivery_id = ?1 RETURNING webhook_seq",
                    rusqlite::params![
                        id, state.as_str(), a.at.0, a.status_code, a.error, a.next.map(|t| t.0)
                    ],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(seq) = webhook_seq {
                if a.ok {
                    tx.execute("UPDATE webhooks SET failing_since = NULL WHERE seq = ?1", [seq])?;
                } else {
                    let since: i64 = tx.query_row(
                        "UPDATE webhooks SET failing_since = COALESCE(failing_since, ?2) WHERE seq = ?1 \
                         RETURNING failing_since",
                        (seq, a.at.0),
                        |r| r.get(0),
                    )?;
                    if should_disable(Timestamp(since), a.at, a.disable_after_hours) {
                        tx.execute(
                            "UPDATE webhooks SET enabled = 0, disabled_reason = ?2, updated_at = ?3 \
                             WHERE seq = ?1 AND enabled",
                            rusqlite::params![seq, disabled_reason(a.disable_after_hours), a.at.0],
                        )?;
                    }
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn list_deliveries(
        &self,
        webhook_id: &str,
        state: Option<DeliveryState>,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Option<Paged<Delivery>>> {
        let webhook_id = webhook_id.to_owned();
        self.read(move |conn, _| {
            let Some((seq, ..)) = load(conn, &webhook_id)? else {
                return Ok(None);
            };
            let rows = conn
                .prepare_cached(&format!(
                    "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_seq = ?1 AND seq < ?2 \
                     AND (?3 IS NULL OR state = ?3) ORDER BY seq DESC LIMIT ?4"
                ))?
                .query_map(
                    rusqlite::params![
                        seq,
                        after.unwrap_or(i64::MAX),
                        state.map(DeliveryState::as_str),
                        i64::from(limit) + 1
                    ],
                    delivery_row,
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Some(page_of(rows, limit)))
        })
        .await
    }

    async fn redeliver_webhook(
        &self,
        webhook_id: &str,
        delivery_id: &str,
        now: Timestamp,
        retry_until: Timestamp,
    ) -> Result<Option<Delivery>> {
        let (webhook_id, delivery_id) = (webhook_id.to_owned(), delivery_id.to_owned());
        self.write(move |conn, _| {
            let tx = immediate(conn)?;
            let Some((seq, ..)) = load(&tx, &webhook_id)? else {
                return Err(Error::NotFound);
            };
            let dseq: Option<i64> = tx
                .query_row(
                    "UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = ?3, retry_until = ?4, \
                     claimed_by = NULL, claimed_until = NULL WHERE webhook_seq = ?1 AND delivery_id = ?2 RETURNING seq",
                    rusqlite::params![seq, delivery_id, now.0, retry_until.0],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(dseq) = dseq else { return Ok(None) };
            let d = load_delivery(&tx, dseq)?;
            tx.commit()?;
            Ok(Some(d))
        })
        .await
    }

    async fn delivery_stats(&self) -> Result<DeliveryStats> {
        self.read(|conn, _| {
            let (n, oldest): (i64, Option<i64>) = conn
                .prepare_cached(
                    "SELECT count(*), min(created_at) FROM webhook_deliveries WHERE state = 'pending'",
                )?
                .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(DeliveryStats {
                pending: u64::try_from(n).unwrap_or(0),
                oldest_pending: oldest.map(Timestamp),
            })
        })
        .await
    }
}
