//! The runtime settings (docs/api.md, "Settings"), under the seed's key names, and the
//! rules a change of them must keep. The engine holds the live values
//! (`engine::settings::SettingsHandle`).

use serde::{Deserialize, Serialize};

/// `CaseManagement.BulkUpdateCacheInvalidation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Invalidation {
    /// A case's cache entry is dropped when its change commits.
    Immediate,
    /// Dropped in one sweep when the job's last chunk commits, before `completed`.
    Deferred,
    /// Never dropped by a job: entries only expire (the legacy behaviour).
    Ttl,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Lifetime of a case-metadata cache entry, seconds.
    #[serde(rename = "CaseManagement.CacheTimeout")]
    #[schema(maximum = 86_400)]
    pub cache_timeout: u64,
    #[serde(rename = "CaseManagement.BulkUpdateCacheInvalidation")]
    pub bulk_update_cache_invalidation: Invalidation,
    /// `completed` only once every live node has applied the job's invalidations.
    #[serde(rename = "CaseManagement.SyncStatusAfterBulkUpdate")]
    pub sync_status_after_bulk_update: bool,
    /// Most items one bulk update (or refresh-status) may carry.
    #[serde(rename = "Jobs.MaxItemsPerRequest")]
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub max_items_per_request: u32,
    /// Most cases one bulk update by filter may match.
    #[serde(rename = "Jobs.MaxItemsPerFilter")]
    #[schema(minimum = 1, maximum = 10_000_000)]
    pub max_items_per_filter: u32,
    /// Items applied per transaction.
    #[serde(rename = "Jobs.ChunkSize")]
    #[schema(minimum = 1, maximum = 10_000)]
    pub chunk_size: u32,
    /// How long finished jobs are kept, seconds.
    #[serde(rename = "Jobs.Retention")]
    #[schema(minimum = 1, maximum = 31_536_000)]
    pub retention: u64,
    /// How long the change feed keeps a change, seconds; a cursor older than the oldest
    /// kept change gets 410 `cursor_expired`.
    #[serde(rename = "Changes.Retention")]
    #[schema(minimum = 1, maximum = 31_536_000)]
    pub changes_retention: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            cache_timeout: 300,
            bulk_update_cache_invalidation: Invalidation::Immediate,
            sync_status_after_bulk_update: true,
            max_items_per_request: 10_000,
            max_items_per_filter: 1_000_000,
            chunk_size: 500,
            retention: 604_800,
            changes_retention: 604_800,
        }
    }
}

impl Settings {
    /// Every out-of-range value, as `(key, message)`.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.cache_timeout > 86_400 {
            out.push((
                "CaseManagement.CacheTimeout",
                "must be between 0 and 86400 seconds".into(),
            ));
        }
        if !(1..=1_000_000).contains(&self.max_items_per_request) {
            out.push((
                "Jobs.MaxItemsPerRequest",
                "must be between 1 and 1000000".into(),
            ));
        }
        if !(1..=10_000_000).contains(&self.max_items_per_filter) {
            out.push((
                "Jobs.MaxItemsPerFilter",
                "must be between 1 and 10000000".into(),
            ));
        }
        if !(1..=10_000).contains(&self.chunk_size) {
            out.push(("Jobs.ChunkSize", "must be between 1 and 10000".into()));
        }
        if !(1..=31_536_000).contains(&self.retention) {
            out.push((
                "Jobs.Retention",
                "must be between 1 and 31536000 seconds".into(),
            ));
        }
        if !(1..=31_536_000).contains(&self.changes_retention) {
            out.push((
                "Changes.Retention",
                "must be between 1 and 31536000 seconds".into(),
            ));
        }
        out
    }
}

/// Why a settings change was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum SettingsError {
    /// A key that is not a setting.
    Unknown(String),
    /// `(key, message)` for each bad value.
    Invalid(Vec<(String, String)>),
}

impl Settings {
    /// The settings with `patch` (key -> value) applied, all checked.
    pub fn patched(
        &self,
        patch: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Self, SettingsError> {
        let mut merged = match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        for (k, v) in patch {
            if !merged.contains_key(k) {
                return Err(SettingsError::Unknown(k.clone()));
            }
            merged.insert(k.clone(), v.clone());
        }
        let mut merged = serde_json::Value::Object(merged);
        crate::domain::integral_floats(&mut merged);
        let next: Settings = serde_path_to_error::deserialize(merged).map_err(|e| {
            let key = e.path().to_string();
            SettingsError::Invalid(vec![(key, e.into_inner().to_string())])
        })?;
        let problems = next.problems();
        if problems.is_empty() {
            Ok(next)
        } else {
            Err(SettingsError::Invalid(
                problems
                    .into_iter()
                    .map(|(k, m)| (k.to_owned(), m))
                    .collect(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_use_the_seed_key_names() {
        let v = serde_json::to_value(Settings::default()).unwrap();
        assert_eq!(v["CaseManagement.CacheTimeout"], 300);
        assert_eq!(v["CaseManagement.BulkUpdateCacheInvalidation"], "immediate");
        assert_eq!(v["CaseManagement.SyncStatusAfterBulkUpdate"], true);
        assert_eq!(v["Jobs.MaxItemsPerRequest"], 10_000);
        assert_eq!(v["Jobs.MaxItemsPerFilter"], 1_000_000);
        assert_eq!(v["Jobs.ChunkSize"], 500);
        assert_eq!(v["Jobs.Retention"], 604_800);
        assert!(Settings::default().problems().is_empty());
        assert_eq!(
            Settings {
                chunk_size: 0,
                ..Default::default()
            }
            .problems()[0]
                .0,
            "Jobs.ChunkSize"
        );
    }
}
