//! API keys as the engine keeps them: creating one (checked, issued, stored), and the
//! key ring every request is authenticated against (the store's keys, re-read at most
//! every `auth.key_cache_ms`, so a key created or revoked on another node counts
//! there within that time).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::domain::{ApiKey, CommitSeq, IssuedKey, Timestamp, issue_key, parse_new_key};
use crate::error::{Error, Result};
use crate::store::Store;

/// Why a key could not be made: the request (field errors) or the store.
pub enum CreateError {
    Invalid(Vec<crate::domain::FieldError>),
    Store(Error),
}

/// Checks the request, issues a token and stores the key (also `docket keys create
/// --database-url`, which has no server to ask).
pub async fn create_key(
    store: &dyn Store,
    name: Option<String>,
    scopes: &[String],
    now: Timestamp,
) -> Result<(IssuedKey, CommitSeq), CreateError> {
    let (name, scopes) = parse_new_key(name, scopes).map_err(CreateError::Invalid)?;
    let issued = issue_key(name, scopes, now)
        .map_err(|e| CreateError::Store(Error::Other(anyhow::anyhow!(e))))?;
    let commit = store
        .create_key(issued.key.clone())
        .await
        .map_err(CreateError::Store)?;
    Ok((issued, commit))
}

/// Every key by id (revoked ones too).
pub type Keys = Arc<HashMap<String, Arc<ApiKey>>>;

/// The keys of the store, re-read at most every `ttl`.
pub struct KeyRing {
    store: Arc<dyn Store>,
    ttl: Duration,
    /// Whether the server may run open (no key at all): a loopback bind, or the operator
    /// said so.
    pub open_allowed: bool,
    /// How an open server treats callers.
    pub open: OpenPolicy,
    snapshot: RwLock<Option<(Instant, Keys)>>,
    /// One refresh at a time; the others wait for it and use what it read.
    refresh: tokio::sync::Mutex<()>,
}

/// What an open server (no key in the store) allows.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenPolicy {
    /// Any `Host` (the operator serves open behind an authenticating proxy). Otherwise
    /// only loopback names and addresses: a web page the operator visits cannot reach
    /// the API through DNS rebinding (its requests carry the attacker's host name).
    pub any_host: bool,
    /// `POST /api/v1/keys` may create a key.
    pub key_creation: bool,
}

impl KeyRing {
    pub fn new(store: Arc<dyn Store>, ttl: Duration, open_allowed: bool, open: OpenPolicy) -> Self {
        Self {
            store,
            ttl,
            open_allowed,
            open,
            snapshot: RwLock::new(None),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    fn fresh(&self) -> Option<Keys> {
        let guard = self
            .snapshot
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        guard
            .as_ref()
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, k)| k.clone())
    }

    /// Every key (revoked ones too), by id, at most `ttl` old.
    pub async fn keys(&self) -> Result<Keys> {
        if let Some(k) = self.fresh() {
            return Ok(k);
        }
        let _one = self.refresh.lock().await;
        if let Some(k) = self.fresh() {
            return Ok(k);
        }
        let keys: HashMap<_, _> = self
            .store
            .list_keys()
            .await?
            .into_iter()
            .map(|k| (k.id.clone(), Arc::new(k)))
            .collect();
        let keys = Arc::new(keys);
        *self
            .snapshot
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((Instant::now(), keys.clone()));
        Ok(keys)
    }

    /// Drops what was read, after a key was created or revoked on this node.
    pub fn forget(&self) {
        *self
            .snapshot
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }
}
