//! Webhooks as the engine runs them: the writes that manage them (through the store,
//! answering with their commit). The delivery loop is `webhook_delivery`'s.

use super::Committed;
use super::Engine;
use crate::domain::Timestamp;
use crate::domain::webhook::{
    Delivery, DeliveryState, Filter, NewDelivery, OLD_SECRET_MS, TEST_EVENT, Webhook,
    new_delivery_id, new_secret, new_webhook_id, payload,
};
use crate::error::{Error, Result};

/// The fields of a webhook a caller sets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WebhookSpec {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub filter: Option<Filter>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

impl Engine {
    pub(super) fn retry_window_ms(&self) -> i64 {
        i64::try_from(self.webhooks.give_up_after_seconds.saturating_mul(1000)).unwrap_or(i64::MAX)
    }

    /// Creates a webhook (enabled) with a new secret; it is sent the changes committed
    /// from now on. The caller has checked the URL and the events.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn create_webhook(
        &self,
        url: String,
        events: Vec<String>,
        filter: Filter,
        description: Option<String>,
    ) -> Result<Committed<Webhook>> {
        let now = self.now();
        let w = Webhook {
            id: new_webhook_id(),
            url,
            events,
            filter,
            description,
            enabled: true,
            disabled_reason: None,
            secret: new_secret(),
            old_secret: None,
            failing_since: None,
            created_at: now,
            updated_at: now,
        };
        let commit = self.store.create_webhook(w.clone()).await?;
        self.wake_webhooks.notify_waiters();
        Ok(self.committed_plain(w, commit))
    }

    pub async fn list_webhooks(&self) -> Result<Vec<Webhook>> {
        self.store.list_webhooks().await
    }

    pub async fn get_webhook(&self, id: &str) -> Result<Option<Webhook>> {
        self.store.get_webhook(id).await
    }

    /// Changes a webhook. Enabling it again clears why it was disabled and its failing
    /// streak. `NotFound`.
    #[tracing::instrument(level = "debug", skip(self, spec))]
    pub async fn update_webhook(&self, id: &str, spec: WebhookSpec) -> Result<Committed<Webhook>> {
        let mut w = self.store.get_webhook(id).await?.ok_or(Error::NotFound)?;
        if let Some(url) = spec.url {
            w.url = url;
        }
        if let Some(e) = spec.events {
            w.events = e;
        }
        if let Some(f) = spec.filter {
            w.filter = f;
        }
        if let Some(d) = spec.description {
            w.description = Some(d).filter(|d| !d.is_empty());
        }
        if let Some(enabled) = spec.enabled {
            if enabled && !w.enabled {
                w.disabled_reason = None;
                w.failing_since = None;
            }
            w.enabled = enabled;
        }
        w.updated_at = self.now();
        let commit = self.store.save_webhook(w.clone()).await?;
        self.wake_webhooks.notify_waiters();
        Ok(self.committed_plain(w, commit))
    }

    /// A new secret; the old one still signs deliveries for 24 hours.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn rotate_webhook_secret(&self, id: &str) -> Result<Committed<Webhook>> {
        let mut w = self.store.get_webhook(id).await?.ok_or(Error::NotFound)?;
        let now = self.now();
        let old = std::mem::replace(&mut w.secret, new_secret());
        w.old_secret = Some((old, Timestamp(now.0 + OLD_SECRET_MS)));
        w.updated_at = now;
        let commit = self.store.save_webhook(w.clone()).await?;
        Ok(self.committed_plain(w, commit))
    }

    /// Removes a webhook and its deliveries. `NotFound`.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn delete_webhook(&self, id: &str) -> Result<Committed<()>> {
        let commit = self.store.delete_webhook(id).await?;
        Ok(self.committed_plain((), commit))
    }

    /// Queues a `webhook.test` event for the webhook, sent at once. `NotFound`.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn test_webhook(&self, id: &str) -> Result<Committed<Delivery>> {
        let now = self.now();
        let data = serde_json::json!({
            "webhookId": id,
            "message": "a test event from docket",
        });
        let d = NewDelivery {
            id: new_delivery_id(),
            kind: TEST_EVENT.into(),
            payload: payload(TEST_EVENT, now, &data.to_string()),
            at: now,
            retry_until: Timestamp(now.0.saturating_add(self.retry_window_ms())),
        };
        let d = self.store.add_delivery(id, d).await?;
        self.wake_webhooks.notify_waiters();
        self.with_head(d).await
    }

    pub async fn webhook_deliveries(
        &self,
        id: &str,
        state: Option<DeliveryState>,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Option<crate::domain::Paged<Delivery>>> {
        self.store.list_deliveries(id, state, after, limit).await
    }

    /// Sends a delivery again now (and retries it as a new one). `Ok(None)` without the
    /// delivery; `NotFound` without the webhook.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn redeliver_webhook(
        &self,
        id: &str,
        delivery: &str,
    ) -> Result<Option<Committed<Delivery>>> {
        let now = self.now();
        let until = Timestamp(now.0.saturating_add(self.retry_window_ms()));
        let d = self
            .store
            .redeliver_webhook(id, delivery, now, until)
            .await?;
        let Some(d) = d else {
            return Ok(None);
        };
        self.wake_webhooks.notify_waiters();
        self.with_head(d).await.map(Some)
    }
}
