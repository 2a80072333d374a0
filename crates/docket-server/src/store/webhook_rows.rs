//! Webhook and delivery rows, decoded once for both backends (through
//! [`super::decode::Columns`]), and the fan-out's decision per change.

use serde_json::Value;

use super::decode::Columns;
use crate::domain::Timestamp;
use crate::domain::webhook::{Delivery, DeliveryState, DueDelivery, Filter, Webhook, payload};

/// The columns of a webhook row, in the order [`webhook`] reads them.
pub const WEBHOOK_COLUMNS: &str = "seq, webhook_id, url, events, filter, description, enabled, \
     disabled_reason, secret, old_secret, old_secret_until, failing_since, created_at, updated_at, cursor";

/// The columns of a delivery row, in the order [`delivery`] reads them.
pub const DELIVERY_COLUMNS: &str = "seq, delivery_id, position, kind, case_id, state, attempts, \
     last_attempt_at, last_status_code, last_error, next_attempt_at, created_at";

/// A webhook row selected with [`WEBHOOK_COLUMNS`]: its `seq`, itself, its cursor.
pub fn webhook<R: Columns>(r: &R) -> Result<(i64, Webhook, i64), R::Error> {
    let events = r.text(3)?;
    let filter = r.text(4)?;
    let old = match (r.opt_text(9)?, r.opt_int(10)?) {
        (Some(s), Some(until)) => Some((s, Timestamp(until))),
        _ => None,
    };
    let w = Webhook {
        id: r.text(1)?,
        url: r.text(2)?,
        events: serde_json::from_str(&events)
            .map_err(|e| r.unreadable(3, "events", e.to_string()))?,
        filter: serde_json::from_str::<Filter>(&filter)
            .map_err(|e| r.unreadable(4, "filter", e.to_string()))?,
        description: r.opt_text(5)?,
        enabled: r.flag(6)?,
        disabled_reason: r.opt_text(7)?,
        secret: r.text(8)?,
        old_secret: old,
        failing_since: r.opt_int(11)?.map(Timestamp),
        created_at: Timestamp(r.int(12)?),
        updated_at: Timestamp(r.int(13)?),
    };
    Ok((r.int(0)?, w, r.int(14)?))
}

/// A delivery row selected with [`DELIVERY_COLUMNS`], and its `seq`.
pub fn delivery<R: Columns>(r: &R) -> Result<(i64, Delivery), R::Error> {
    let state = r.text(5)?;
    let d = Delivery {
        id: r.text(1)?,
        position: r.opt_int(2)?,
        kind: r.text(3)?,
        case_id: r.opt_text(4)?,
        state: DeliveryState::parse(&state)
            .ok_or_else(|| r.unreadable(5, "delivery state", state.clone()))?,
        attempts: u32::try_from(r.int(6)?).unwrap_or(0),
        last_attempt_at: r.opt_int(7)?.map(Timestamp),
        last_status_code: r.opt_int(8)?.and_then(|c| u16::try_from(c).ok()),
        last_error: r.opt_text(9)?,
        next_attempt_at: Timestamp(r.int(10)?),
        created_at: Timestamp(r.int(11)?),
    };
    Ok((r.int(0)?, d))
}

/// The JSON texts a webhook's lists and filter are stored as.
pub fn events_text(w: &Webhook) -> String {
    serde_json::to_string(&w.events).unwrap_or_else(|_| "[]".into())
}

pub fn filter_text(w: &Webhook) -> String {
    serde_json::to_string(&w.filter).unwrap_or_else(|_| "{}".into())
}

/// A delivery the fan-out makes: `(webhook seq, delivery id, lane, payload)`. The lane
/// orders deliveries: a case's changes go one at a time; a job's events likewise.
pub struct Planned {
    pub webhook_seq: i64,
    pub id: String,
    pub lane: String,
    pub payload: String,
}

/// The deliveries `changes` make for `webhooks` (`(seq, webhook, cursor)`): each change
/// after a webhook's cursor that it wants, if it is enabled.
pub fn plan(
    webhooks: &[(i64, Webhook, i64)],
    changes: &[super::decode::FeedChange],
) -> Vec<(usize, Planned)> {
    let mut out = Vec::new();
    for (i, c) in changes.iter().enumerate() {
        let json: Value = serde_json::from_str(&c.body).unwrap_or(Value::Null);
        for (seq, w, cursor) in webhooks {
            if c.position <= *cursor || !w.enabled || !w.wants(&c.kind, &json) {
                continue;
            }
            let id = crate::domain::webhook::new_delivery_id();
            let lane = match (&c.case_id, json.get("jobId").and_then(Value::as_str)) {
                (Some(case), _) => format!("case:{case}"),
                (None, Some(job)) => format!("job:{job}"),
                (None, None) => id.clone(),
            };
            let data = crate::domain::feed::with_position(c.position, &c.body);
            out.push((
                i,
                Planned {
                    webhook_seq: *seq,
                    id,
                    lane,
                    payload: payload(&c.kind, Timestamp(c.at), &data),
                },
            ));
        }
    }
    out
}

/// A claimed delivery as the claim statement returns it: `seq, delivery_id, payload,
/// attempts, retry_until, webhook_seq`.
pub type ClaimedRow = (i64, String, String, i64, i64, i64);

/// The claimed deliveries with their webhooks (`hooks`: every webhook, by seq).
pub fn due(claimed: Vec<ClaimedRow>, hooks: &[(i64, Webhook, i64)]) -> Vec<DueDelivery> {
    claimed
        .into_iter()
        .filter_map(|(_, id, payload, attempts, retry_until, webhook_seq)| {
            let (_, webhook, _) = hooks.iter().find(|(s, _, _)| *s == webhook_seq)?;
            Some(DueDelivery {
                id,
                webhook: webhook.clone(),
                payload,
                attempts: u32::try_from(attempts).unwrap_or(0),
                retry_until: Timestamp(retry_until),
            })
        })
        .collect()
}

/// Of the oldest changes `(position, at)`, in position order, the last position of the
/// prefix recorded before `before`: what a purge may forget (`None`: nothing).
pub fn purge_upto(oldest: &[(i64, i64)], before: Timestamp) -> Option<i64> {
    oldest
        .iter()
        .take_while(|(_, at)| *at < before.0)
        .map(|(p, _)| *p)
        .last()
}
