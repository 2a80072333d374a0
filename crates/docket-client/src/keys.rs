//! `/api/v1/keys` (admin): create, list and revoke API keys.

use docket_api::{ApiKey, CreatedApiKey, NewApiKey, Page};
use reqwest::Method;

use crate::{Client, Result, encode};

impl Client {
    /// Creates a key; the answer holds its token, which the server never shows again.
    pub async fn create_key(&self, new: &NewApiKey) -> Result<CreatedApiKey> {
        Ok(self.json(Method::POST, "/api/v1/keys", new).await?.body)
    }

    /// Every key, revoked ones too (never their tokens).
    pub async fn list_keys(&self) -> Result<Page<ApiKey>> {
        Ok(self
            .send(self.request(Method::GET, "/api/v1/keys"))
            .await?
            .body)
    }

    /// Revokes a key: from then on (within the servers' key cache time) it authorises
    /// nothing.
    pub async fn revoke_key(&self, key_id: &str) -> Result<ApiKey> {
        let path = format!("/api/v1/keys/{}", encode(key_id));
        Ok(self.send(self.request(Method::DELETE, &path)).await?.body)
    }
}
