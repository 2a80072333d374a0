//! The live runtime settings of this node, read through a [`SettingsHandle`] at the
//! moment they are used, so a change applies without a restart. What they are and the
//! rules of a change: [`crate::domain::settings`].

use std::sync::{Arc, RwLock};

pub use crate::domain::settings::{Invalidation, Settings, SettingsError};

/// Shared, live settings.
#[derive(Debug, Clone)]
pub struct SettingsHandle(Arc<RwLock<Settings>>);

impl SettingsHandle {
    pub fn new(s: Settings) -> Self {
        Self(Arc::new(RwLock::new(s)))
    }

    pub fn get(&self) -> Settings {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub fn set(&self, s: Settings) {
        *self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = s;
    }
}
