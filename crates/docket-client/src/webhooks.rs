//! `/api/v1/webhooks` (admin): subscriptions that push the change feed to a URL.

use docket_api::{
    CreatedWebhook, DeliveryQuery, NewWebhook, Page, Webhook, WebhookDelivery, WebhookPatch,
};
use reqwest::Method;

use crate::{Client, Result, encode, ok_or_problem};

fn path(id: &str) -> String {
    format!("/api/v1/webhooks/{}", encode(id))
}

impl Client {
    /// Creates a webhook; the answer holds its secret, shown only now.
    pub async fn create_webhook(&self, new: &NewWebhook) -> Result<CreatedWebhook> {
        Ok(self.json(Method::POST, "/api/v1/webhooks", new).await?.body)
    }

    pub async fn list_webhooks(&self) -> Result<Page<Webhook>> {
        Ok(self
            .send(self.request(Method::GET, "/api/v1/webhooks"))
            .await?
            .body)
    }

    pub async fn get_webhook(&self, id: &str) -> Result<Webhook> {
        Ok(self.send(self.request(Method::GET, &path(id))).await?.body)
    }

    pub async fn update_webhook(&self, id: &str, patch: &WebhookPatch) -> Result<Webhook> {
        Ok(self.json(Method::PATCH, &path(id), patch).await?.body)
    }

    pub async fn delete_webhook(&self, id: &str) -> Result<()> {
        ok_or_problem(self.request(Method::DELETE, &path(id)).send().await?).await?;
        Ok(())
    }

    /// A new secret (the old one signs beside it for 24 hours).
    pub async fn rotate_webhook_secret(&self, id: &str) -> Result<CreatedWebhook> {
        let p = format!("{}/rotate-secret", path(id));
        Ok(self.send(self.request(Method::POST, &p)).await?.body)
    }

    /// Sends a `webhook.test` event; the delivery it made.
    pub async fn test_webhook(&self, id: &str) -> Result<WebhookDelivery> {
        let p = format!("{}/test", path(id));
        Ok(self.send(self.request(Method::POST, &p)).await?.body)
    }

    pub async fn webhook_deliveries(
        &self,
        id: &str,
        q: &DeliveryQuery,
    ) -> Result<Page<WebhookDelivery>> {
        let p = format!("{}/deliveries", path(id));
        Ok(self
            .send(self.request(Method::GET, &p).query(q))
            .await?
            .body)
    }

    pub async fn redeliver_webhook(&self, id: &str, delivery: &str) -> Result<WebhookDelivery> {
        let p = format!("{}/deliveries/{}/redeliver", path(id), encode(delivery));
        Ok(self.send(self.request(Method::POST, &p)).await?.body)
    }
}
