//! The webhooks' delivery loop: it turns the change feed into deliveries (the store's
//! fan-out, one per matching change per webhook, in one transaction with the webhooks'
//! cursors, so none is made twice or missed) and sends the due ones concurrently: up to
//! `webhooks.max_in_flight` at once and `webhooks.max_per_host` to one receiver, so a
//! slow receiver holds back no other webhook. Per webhook, a case's deliveries go one at
//! a time in position order (the store claims only the first pending one of each case).
//! Each is signed as Standard Webhooks and retried with backoff until its window ends.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::{self, JoinSet};

use super::callbacks::receiver;
use super::targets::{check_url, refusal};
use super::{Engine, stopped};
use crate::domain::Timestamp;
use crate::domain::webhook::{DeliveryAttempt, DueDelivery, next_attempt, signature_header};
use crate::error::Result;

/// Changes the fan-out reads per transaction.
const FAN_OUT_BATCH: u32 = 1_000;
/// How long a claimed delivery may wait here for its receiver to have room before it is
/// given back (well inside its claim, the attempt's timeout + 30 s).
const CLAIM_KEPT: Duration = Duration::from_secs(20);

/// What woke the delivery loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wake {
    /// A commit recorded changes.
    Feed,
    /// A webhook write, a tick, or the start: whether any webhook exists is read again.
    Refresh,
    /// An attempt ended: room for another.
    AttemptEnded,
}

impl Engine {
    /// Turns the feed into deliveries until caught up; returns the changes read.
    pub async fn fan_out_webhooks(&self) -> Result<u64> {
        let mut total = 0;
        loop {
            let n = self
                .store
                .fan_out(self.now(), self.retry_window_ms(), FAN_OUT_BATCH)
                .await?;
            total += n;
            if n < u64::from(FAN_OUT_BATCH) {
                return Ok(total);
            }
        }
    }

    /// The delivery loop (see the module's documentation): wakes on commits that
    /// recorded changes (this node's and, in a cluster, the others'), on webhook writes,
    /// when an attempt ends, and every 250 ms for retries that fall due.
    pub(super) async fn deliver_webhooks(self: &Arc<Self>, mut stop: watch::Receiver<bool>) {
        let max_in_flight = self.webhooks.max_in_flight.max(1);
        let max_per_host = self.webhooks.max_per_host.max(1);
        // The attempts under way: their task -> (delivery id, receiver).
        let mut in_flight: HashMap<task::Id, (String, String)> = HashMap::new();
        // Claimed here, waiting for their receiver to have room (and when claimed).
        let mut waiting: VecDeque<(DueDelivery, Instant)> = VecDeque::new();
        let mut running: JoinSet<()> = JoinSet::new();
        let mut feed = self.feed_watch();
        let mut failing = false;
        // Whether any webhook exists: read again on every wake-up but the feed's, so a
        // commit costs nothing here while there is none (a webhook made on another node
        // is seen at the next tick).
        let mut hooks = true;
        let mut wake = Wake::Refresh;
        loop {
            let notified = self.wake_webhooks.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if wake == Wake::Refresh {
                hooks = self
                    .store
                    .list_webhooks()
                    .await
                    .map_or(true, |w| !w.is_empty());
            }
            // Claim in batches (a claim reads the pending backlog): refill when half of
            // what this node may hold is gone, up to twice what it may have under way.
            let held = in_flight.len() + waiting.len();
            let room = if hooks && waiting.len() <= max_in_flight / 2 {
                (2 * max_in_flight).saturating_sub(held)
            } else {
                0
            };
            // New changes become deliveries first (not after an attempt ends).
            let fan_now = hooks && wake != Wake::AttemptEnded;
            if fan_now || !hooks {
                // Seen (a commit from here on wakes the loop again).
                feed.borrow_and_update();
            }
            let step = async {
                // After a commit, claim only if it made changes to send.
                if fan_now && self.fan_out_webhooks().await? == 0 && wake == Wake::Feed {
                    return Ok(Vec::new());
                }
                if room == 0 {
                    return Ok(Vec::new());
                }
                let now = self.now();
                // Claimed past the attempt's timeout: a node that dies mid-attempt
                // leaves the delivery to another once the claim runs out.
                let claim_ms = i64::try_from(self.webhooks.timeout_seconds * 1000 + 30_000)
                    .unwrap_or(i64::MAX);
                self.store
                    .claim_deliveries(
                        &self.node,
                        now,
                        Timestamp(now.0.saturating_add(claim_ms)),
                        u32::try_from(room).unwrap_or(u32::MAX),
                    )
                    .await
            };
            match step.await {
                Ok(due) => {
                    if std::mem::take(&mut failing) {
                        tracing::info!("webhook deliveries work again");
                    }
                    for d in due {
                        // Under way or waiting here already (its claim ran out meanwhile).
                        let known = in_flight.values().any(|(id, _)| *id == d.id)
                            || waiting.iter().any(|(w, _)| w.id == d.id);
                        if !known {
                            waiting.push_back((d, Instant::now()));
                        }
                    }
                }
                Err(e) => {
                    if !std::mem::replace(&mut failing, true) {
                        tracing::warn!(error = %e, "webhook deliveries fail; retrying until they work");
                    }
                }
            }
            // Start the waiting deliveries whose receiver has room, oldest first.
            let mut started = 0;
            let mut i = 0;
            while i < waiting.len() {
                let host = receiver(&waiting[i].0.webhook.url);
                if in_flight.values().filter(|(_, h)| *h == host).count() >= max_per_host {
                    // Waited long: give it back before its claim could lapse.
                    if waiting[i].1.elapsed() > CLAIM_KEPT {
                        if let Some((d, _)) = waiting.remove(i) {
                            let _ = self.release(&d).await;
                        }
                        continue;
                    }
                    i += 1;
                    continue;
                }
                let Some((d, _)) = waiting.remove(i) else {
                    break;
                };
                let engine = self.clone();
                let d_id = d.id.clone();
                let handle = running.spawn(async move {
                    if let Err(e) = engine.attempt(&d).await {
                        tracing::warn!(error = %e, delivery = %d.id, "recording a webhook attempt failed");
                    }
                });
                in_flight.insert(handle.id(), (d_id, host));
                started += 1;
            }
            if started > 0 && waiting.len() <= max_in_flight / 2 && !*stop.borrow() {
                // Refill at once (without a fan-out).
                wake = Wake::AttemptEnded;
                continue;
            }
            wake = tokio::select! {
                () = notified => Wake::Refresh,
                _ = feed.changed() => Wake::Feed,
                Some(done) = running.join_next_with_id(), if !running.is_empty() => {
                    let id = match done { Ok((id, ())) => id, Err(e) => e.id() };
                    in_flight.remove(&id);
                    Wake::AttemptEnded
                }
                () = tokio::time::sleep(Duration::from_millis(if failing { 2000 } else { 250 })) => Wake::Refresh,
                () = stopped(&mut stop) => {
                    for (d, _) in waiting.drain(..) {
                        let _ = self.release(&d).await;
                    }
                    while running.join_next().await.is_some() {}
                    return;
                }
            };
        }
    }

    /// Gives a claimed delivery back without an attempt (its host was at its cap).
    async fn release(&self, d: &DueDelivery) -> Result<()> {
        self.store.release_delivery(&d.id).await
    }

    /// One attempt at a delivery, recorded with what follows it.
    #[tracing::instrument(level = "debug", skip_all, fields(webhook = %d.webhook.id, delivery = %d.id))]
    async fn attempt(&self, d: &DueDelivery) -> Result<()> {
        let started = Instant::now();
        let at = self.now();
        let (status_code, error) = match self.post(d, at).await {
            Ok(code) => (Some(code), None),
            Err(e) => (None, Some(e)),
        };
        let ok = status_code.is_some_and(|c| (200..300).contains(&c));
        let next = next_attempt(ok, d.attempts + 1, at, d.retry_until);
        let outcome = if ok {
            "succeeded"
        } else if next.is_some() {
            "retry"
        } else {
            "failed"
        };
        self.metrics.webhook_attempt(outcome);
        tracing::debug!(
            ?status_code,
            ok,
            ms = started.elapsed().as_millis() as u64,
            "webhook attempt"
        );
        let error =
            error.or_else(|| (!ok).then(|| format!("answered {}", status_code.unwrap_or(0))));
        self.store
            .record_delivery(
                &d.id,
                DeliveryAttempt {
                    at,
                    status_code,
                    error,
                    ok,
                    next,
                    disable_after_hours: self.webhooks.disable_after_hours,
                },
            )
            .await
    }

    /// POSTs the signed payload; the receiver's status, or why there was none.
    async fn post(&self, d: &DueDelivery, at: Timestamp) -> std::result::Result<u16, String> {
        let url = check_url(&d.webhook.url, &self.allowed_hosts)
            .map_err(|m| format!("refused: the URL {m}"))?;
        let ts = at.0 / 1000;
        let signature = signature_header(
            &d.webhook.signing_secrets(at),
            &d.id,
            ts,
            d.payload.as_bytes(),
        );
        let res = self
            .http
            .post(url)
            .timeout(Duration::from_secs(self.webhooks.timeout_seconds))
            .header("content-type", "application/json")
            .header("webhook-id", &d.id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signature)
            .body(d.payload.clone())
            .send()
            .await
            .map_err(|e| match refusal(&e) {
                Some(why) => why,
                None if e.is_timeout() => "timed out".into(),
                None => e.to_string(),
            })?;
        Ok(res.status().as_u16())
    }
}
