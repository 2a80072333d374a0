//! PostgreSQL: the webhooks' fan-out, one node at a time (under the `webhook_fanout`
//! counter row's lock): changes after the webhooks' cursors become deliveries, and the
//! cursors move past them, in one transaction.

use sqlx::AssertSqlSafe;

use super::Tx;
use super::rows::webhook_row;
use super::thin::render_rows;
use crate::domain::Timestamp;
use crate::store::decode::{CHANGE_COLUMNS, FeedChange};
use crate::store::thin::THIN_COLUMNS;
use crate::store::webhook_rows::{self, WEBHOOK_COLUMNS};
use crate::store::{Render, Result};

/// Turns up to `limit` changes into deliveries; the changes read (0: caught up, or
/// another node is at it).
pub(super) async fn fan_out(
    mut tx: Tx,
    now: Timestamp,
    retry_for_ms: i64,
    limit: u32,
    render: &Render,
) -> Result<u64> {
    // One node at a time; another node's fan-out in progress does this one's work.
    let mine: Option<i64> = sqlx::query_scalar(
        "SELECT value FROM counters WHERE name = 'webhook_fanout' FOR UPDATE SKIP LOCKED",
    )
    .fetch_optional(&mut *tx)
    .await?;
    if mine.is_none() {
        return Ok(0);
    }
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {WEBHOOK_COLUMNS} FROM webhooks ORDER BY seq"
    )))
    .fetch_all(&mut *tx)
    .await?;
    let hooks = rows.iter().map(webhook_row).collect::<Result<Vec<_>>>()?;
    let Some(from) = hooks.iter().map(|h| h.2).min() else {
        // Ended here, not when the transaction is dropped: the lock must go now, or the
        // other fan-outs (which skip it) wait for this connection's next use.
        tx.rollback().await?;
        return Ok(0);
    };
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {CHANGE_COLUMNS}, {THIN_COLUMNS} FROM changes WHERE position > $1 \
         ORDER BY position LIMIT $2"
    )))
    .bind(from)
    .bind(i64::from(limit))
    .fetch_all(&mut *tx)
    .await?;
    let changes: Vec<FeedChange> = render_rows(&mut tx, &rows, render).await?;
    let Some(last) = changes.last().map(|c| c.position) else {
        tx.rollback().await?;
        return Ok(0);
    };
    let planned = webhook_rows::plan(&hooks, &changes);
    if !planned.is_empty() {
        let (mut ids, mut seqs, mut positions, mut kinds, mut cases, mut lanes, mut payloads) =
            (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
        for (i, p) in planned {
            let c = &changes[i];
            ids.push(p.id);
            seqs.push(p.webhook_seq);
            positions.push(c.position);
            kinds.push(c.kind.clone());
            cases.push(c.case_id.clone());
            lanes.push(p.lane);
            payloads.push(p.payload);
        }
        sqlx::query(
            "INSERT INTO webhook_deliveries (delivery_id, webhook_seq, position, kind, case_id, lane, payload, \
             state, next_attempt_at, retry_until, created_at) \
             SELECT u.id, u.seq, u.pos, u.kind, u.case_id, u.lane, u.payload, 'pending', $8, $9, $8 \
             FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[]) \
             WITH ORDINALITY AS u(id, seq, pos, kind, case_id, lane, payload, o) ORDER BY u.o",
        )
        .bind(ids)
        .bind(seqs)
        .bind(positions)
        .bind(kinds)
        .bind(cases)
        .bind(lanes)
        .bind(payloads)
        .bind(now.0)
        .bind(now.0.saturating_add(retry_for_ms))
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("UPDATE webhooks SET cursor = $1 WHERE cursor < $1")
        .bind(last)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(changes.len() as u64)
}
