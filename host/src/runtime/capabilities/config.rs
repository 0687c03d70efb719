//! `partner:connector/config`: the connector's configuration values.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::runtime::bindings::v1::partner::connector::config;

/// The values the operator set in the manifest's `[config]` (and `--set`).
pub struct ConfigCap {
    values: Arc<BTreeMap<String, String>>,
    /// The keys the guest asked for (`host check` compares them with what it
    /// declares), the first [`MAX_ASKED`] of them.
    asked: BTreeSet<String>,
}

/// How many distinct keys a run's [`ConfigCap::asked`] keeps.
pub const MAX_ASKED: usize = 256;

impl ConfigCap {
    /// A config capability answering from `values`.
    pub fn new(values: Arc<BTreeMap<String, String>>) -> ConfigCap {
        ConfigCap { values, asked: BTreeSet::new() }
    }

    /// The keys the guest asked for, set or not.
    pub fn asked(&self) -> &BTreeSet<String> {
        &self.asked
    }
}

impl config::Host for ConfigCap {
    fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        let value = self.values.get(&key).cloned();
        if self.asked.len() < MAX_ASKED && !self.asked.contains(&key) {
            // A key is the guest's text: kept only up to a bound.
            self.asked.insert(crate::untrusted::capped(&key, 512));
        }
        Ok(value)
    }
}
