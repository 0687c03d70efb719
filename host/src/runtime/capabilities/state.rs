//! `partner:connector/state`: small key-value state for the connector.
//!
//! Kept in memory for a one-shot run. It is bounded: a guest that stores more than
//! the limit traps with [`StateFull`] instead of making the host allocate without end.

use std::collections::BTreeMap;

use crate::manifest::Limits;
use crate::runtime::bindings::v1::partner::connector::state;

/// The guest tried to keep more state than the limit allows.
#[derive(Debug, thiserror::Error)]
#[error("state would hold {wanted} bytes, more than the limit of {limit} bytes (limits.state_bytes)")]
pub struct StateFull {
    /// What the state would have held.
    pub wanted: usize,
    /// The limit.
    pub limit: usize,
}

/// The state capability of one run.
pub struct StateCap {
    values: BTreeMap<String, String>,
    bytes: usize,
    limit: usize,
}

impl StateCap {
    /// Empty state bounded by `limits.state_bytes`.
    pub fn new(limits: &Limits) -> StateCap {
        StateCap { values: BTreeMap::new(), bytes: 0, limit: limits.state_bytes }
    }

    /// Replaces the state with `values` (kept from an earlier run).
    pub fn load(&mut self, values: BTreeMap<String, String>) {
        self.bytes = values.iter().map(|(k, v)| k.len() + v.len()).sum();
        self.values = values;
    }

    /// The values the guest left, for the host to keep.
    pub fn values(&self) -> &BTreeMap<String, String> {
        &self.values
    }
}

impl state::Host for StateCap {
    fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.values.get(&key).cloned())
    }

    fn set(&mut self, key: String, value: String) -> wasmtime::Result<()> {
        let old = self.values.get(&key).map_or(0, |v| key.len() + v.len());
        let wanted = self.bytes - old + key.len() + value.len();
        if wanted > self.limit {
            return Err(StateFull { wanted, limit: self.limit }.into());
        }
        self.bytes = wanted;
        self.values.insert(key, value);
        Ok(())
    }

    fn delete(&mut self, key: String) -> wasmtime::Result<()> {
        if let Some(v) = self.values.remove(&key) {
            self.bytes -= key.len() + v.len();
        }
        Ok(())
    }
}
