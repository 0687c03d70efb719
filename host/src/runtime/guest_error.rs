//! Errors of calls into a guest, classified so that an operator can tell a
//! connector's own error from a limit it hit or a trap.

use crate::contract::{ConnectorError, ErrorCase};

/// A call into a connector failed.
#[derive(Debug, thiserror::Error)]
pub enum GuestError {
    /// The connector returned a `connector-error`.
    #[error("connector `{connector}`: {call} failed: {error}")]
    Connector {
        /// The connector's name.
        connector: String,
        /// The export called.
        call: &'static str,
        /// What the connector returned.
        error: ConnectorError,
    },
    /// The call ran past its deadline and was stopped.
    #[error("connector `{connector}`: {call} ran past its deadline of {limit_ms} ms ({limit}) and was stopped")]
    Deadline {
        /// The connector's name.
        connector: String,
        /// The export called.
        call: &'static str,
        /// The deadline that passed: its manifest key.
        limit: &'static str,
        /// The deadline.
        limit_ms: u64,
    },
    /// The call hit a limit of the sandbox (memory, state, output) and was stopped.
    #[error("connector `{connector}`: {call} was stopped: {detail}")]
    Limit {
        /// The connector's name.
        connector: String,
        /// The export called.
        call: &'static str,
        /// Which limit, and by how much.
        detail: String,
    },
    /// The call returned, but not what the contract says it must (a lookup that gives
    /// another record, a source name that is no name).
    #[error("connector `{connector}`: {call} broke the contract: {detail}")]
    Contract {
        /// The connector's name.
        connector: String,
        /// The export called.
        call: &'static str,
        /// What it returned, and what it should have.
        detail: String,
    },
    /// The component does not export what the call needs (`search` of a component
    /// without the `evidence` export, `list-drafts` of one without `source`).
    #[error("connector `{connector}`: {call} is not offered: the component does not export `{export}`")]
    NotExported {
        /// The connector's name.
        connector: String,
        /// The export called.
        call: &'static str,
        /// The interface it would need.
        export: &'static str,
    },
    /// The guest trapped (a panic, an `unreachable`, a stack overflow).
    #[error("connector `{connector}`: {call} trapped: {message}")]
    Trap {
        /// The connector's name.
        connector: String,
        /// The export called.
        call: &'static str,
        /// The trap.
        message: String,
    },
}

impl GuestError {
    /// For a `connector-error`, its case.
    pub fn case(&self) -> Option<ErrorCase> {
        match self {
            GuestError::Connector { error, .. } => Some(error.case),
            _ => None,
        }
    }

    /// Classifies an error returned by wasmtime from a call of `call`.
    /// `deadline` is the deadline in force (its manifest key and value), and
    /// `max_page_bytes` the bound on what the host copies out of the guest per call.
    pub fn from_wasmtime(
        connector: &str,
        call: &'static str,
        deadline: (&'static str, u64),
        max_page_bytes: u64,
        e: wasmtime::Error,
    ) -> GuestError {
        let connector = connector.to_string();
        if let Some(limit) = e.downcast_ref::<super::limits::LimitExceeded>() {
            return GuestError::Limit { connector, call, detail: limit.to_string() };
        }
        if let Some(full) = e.downcast_ref::<super::capabilities::state::StateFull>() {
            return GuestError::Limit { connector, call, detail: full.to_string() };
        }
        // wasmtime's error for this is private; its message is its API.
        if format!("{e:#}").contains("fuel allocated for hostcalls has been exhausted") {
            return GuestError::Limit {
                connector,
                call,
                detail: format!(
                    "it passed more than limits.max_page_bytes ({max_page_bytes} bytes) to the host in one call"
                ),
            };
        }
        match e.downcast_ref::<wasmtime::Trap>() {
            Some(wasmtime::Trap::Interrupt) => {
                GuestError::Deadline { connector, call, limit: deadline.0, limit_ms: deadline.1 }
            }
            Some(wasmtime::Trap::StackOverflow) => {
                GuestError::Limit { connector, call, detail: "the guest overflowed its stack (deep recursion)".into() }
            }
            Some(trap) => {
                tracing::debug!(%connector, call, "guest trap: {e:?}");
                GuestError::Trap { connector, call, message: trap.to_string() }
            }
            None => GuestError::Trap {
                connector,
                call,
                message: crate::untrusted::capped(&format!("{e:#}"), crate::untrusted::MAX_TEXT),
            },
        }
    }
}
