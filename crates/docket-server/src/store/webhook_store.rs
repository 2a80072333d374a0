//! The store's parts behind the change feed and webhooks: reading the feed, and
//! webhooks with their deliveries.

use async_trait::async_trait;

use super::{CommitSeq, FeedQuery, FeedRead, Paged, Result};
use crate::domain::Timestamp;
use crate::domain::webhook as wh;

/// The change feed: every write records its changes in its own transaction (see
/// [`crate::domain::feed`]); this reads them back and forgets old ones.
#[async_trait]
pub trait FeedStore: Send + Sync + 'static {
    /// The changes after `query.after`, oldest first, and how far retention has purged
    /// (read after them).
    async fn read_changes(&self, query: FeedQuery) -> Result<FeedRead>;

    /// Forgets changes recorded before `before`, oldest first, at most `limit` per
    /// call; returns how many. Purges a prefix of positions only, so everything after
    /// the highest purged position is still there.
    async fn purge_changes(&self, before: Timestamp, limit: u32) -> Result<u64>;
}

/// Webhooks: the subscriptions, the fan-out of the change feed into deliveries (one per
/// matching change per webhook), and the deliveries' attempts.
#[async_trait]
pub trait WebhookStore: Send + Sync + 'static {
    /// Stores a new webhook; it is sent the changes committed after this commit.
    async fn create_webhook(&self, webhook: wh::Webhook) -> Result<CommitSeq>;

    /// Every webhook, oldest first.
    async fn list_webhooks(&self) -> Result<Vec<wh::Webhook>>;

    async fn get_webhook(&self, id: &str) -> Result<Option<wh::Webhook>>;

    /// Saves a changed webhook (everything but its id and creation time). `NotFound`.
    async fn save_webhook(&self, webhook: wh::Webhook) -> Result<CommitSeq>;

    /// Removes a webhook and its deliveries. `NotFound`.
    async fn delete_webhook(&self, id: &str) -> Result<CommitSeq>;

    /// Turns up to `limit` changes after the webhooks' cursors into deliveries, one per
    /// matching change per enabled webhook, and moves the cursors past them, in one
    /// transaction (one node at a time). Returns the changes read (0: caught up).
    async fn fan_out(&self, now: Timestamp, retry_for_ms: i64, limit: u32) -> Result<u64>;

    /// Adds a delivery on request (a test event). `NotFound` without the webhook.
    async fn add_delivery(
        &self,
        webhook_id: &str,
        delivery: wh::NewDelivery,
    ) -> Result<wh::Delivery>;

    /// Claims due deliveries for `owner` until `until`: pending, due by `now`, of an
    /// enabled webhook, not claimed by anyone, and first of their case (per webhook, a
    /// case's deliveries go one at a time, in position order).
    async fn claim_deliveries(
        &self,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
        limit: u32,
    ) -> Result<Vec<wh::DueDelivery>>;

    /// Gives a claimed delivery back unattempted.
    async fn release_delivery(&self, id: &str) -> Result<()>;

    /// Records an attempt (and releases the claim); a failure counts towards disabling
    /// the webhook, a success clears that.
    async fn record_delivery(&self, id: &str, attempt: wh::DeliveryAttempt) -> Result<()>;

    /// A webhook's deliveries, newest first (`after` continues after a delivery's
    /// `seq`). `None` without the webhook.
    async fn list_deliveries(
        &self,
        webhook_id: &str,
        state: Option<wh::DeliveryState>,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Option<Paged<wh::Delivery>>>;

    /// Makes a delivery pending and due now again. `None` without the delivery;
    /// `NotFound` without the webhook.
    async fn redeliver_webhook(
        &self,
        webhook_id: &str,
        delivery_id: &str,
        now: Timestamp,
        retry_until: Timestamp,
    ) -> Result<Option<wh::Delivery>>;

    /// Pending deliveries, and when the oldest was made.
    async fn delivery_stats(&self) -> Result<wh::DeliveryStats>;
}
