//! Per-store resource caps: linear memory, tables, instances.
//!
//! A guest that grows past a cap traps with a [`LimitExceeded`] error, which the
//! host finds again in the trap to report which limit was hit.

use crate::manifest::Limits;

/// A limit of the sandbox that a guest ran into.
#[derive(Debug, thiserror::Error)]
pub enum LimitExceeded {
    /// Linear memory would have grown past the cap.
    #[error("memory would grow to {wanted} bytes, past the cap of {cap_mib} MiB (limits.memory_mib)")]
    Memory {
        /// The size the guest asked for.
        wanted: usize,
        /// The cap, in MiB.
        cap_mib: u64,
    },
    /// A table would have grown past the cap.
    #[error("a table would grow to {wanted} elements, past the cap of {cap}")]
    Table {
        /// The size the guest asked for.
        wanted: usize,
        /// The cap.
        cap: usize,
    },
}

/// The caps of one store, enforced through wasmtime's [`wasmtime::ResourceLimiter`].
pub struct StoreCaps {
    memory_bytes: usize,
    memory_mib: u64,
    table_elements: usize,
    /// The largest linear memory the guest reached, in bytes.
    pub peak_memory: usize,
}

/// Most table elements a guest may have (function tables of large Rust programs
/// stay far below this).
const TABLE_ELEMENTS: usize = 1 << 20;

impl StoreCaps {
    /// The caps set by `limits`.
    pub fn new(limits: &Limits) -> StoreCaps {
        StoreCaps {
            memory_bytes: usize::try_from(limits.memory_mib.saturating_mul(1 << 20)).unwrap_or(usize::MAX),
            memory_mib: limits.memory_mib,
            table_elements: TABLE_ELEMENTS,
            peak_memory: 0,
        }
    }
}

impl wasmtime::ResourceLimiter for StoreCaps {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            return Err(LimitExceeded::Memory { wanted: desired, cap_mib: self.memory_mib }.into());
        }
        self.peak_memory = self.peak_memory.max(desired);
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.table_elements {
            return Err(LimitExceeded::Table { wanted: desired, cap: self.table_elements }.into());
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        // A Rust component has a handful of core instances; a hostile one gets no more.
        64
    }

    fn tables(&self) -> usize {
        64
    }

    fn memories(&self) -> usize {
        16
    }
}
