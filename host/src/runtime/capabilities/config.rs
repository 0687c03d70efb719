//! `partner:connector/config`: the connector's configuration values.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::runtime::bindings::v1::partner::connector::config;

/// The values the operator set in the manifest's `[config]` (and `--set`).
pub struct ConfigCap {
    values: Arc<BTreeMap<String, String>>,
}

impl ConfigCap {
    /// A config capability answering from `values`.
    pub fn new(values: Arc<BTreeMap<String, String>>) -> ConfigCap {
        ConfigCap { values }
    }
}

impl config::Host for ConfigCap {
    fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.values.get(&key).cloned())
    }
}
