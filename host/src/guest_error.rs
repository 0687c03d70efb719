//! Errors of calls into a guest, classified so that an operator can tell a
//! connector's own error from a limit it hit or a trap.

use crate::bindings::v1::partner::connector::types::ConnectorError;

/// A call into a connector failed.
#[derive(Debug, thiserror::Error)]
pub enum GuestError {
    /// The connector returned a `connector-error`.
    #[error("connector `{connector}`: {call} failed: {}", describe(error))]
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
    /// A short name for the kind of failure, as used in run reports.
    pub fn kind(&self) -> &'static str {
        match self {
            GuestError::Connector { .. } | GuestError::Contract { .. } => "connector_error",
            GuestError::Deadline { .. } | GuestError::Limit { .. } => "limit_exceeded",
            GuestError::Trap { .. } => "trap",
        }
    }

    /// For a `connector-error`, its case as the WIT names it.
    pub fn case(&self) -> Option<&'static str> {
        let GuestError::Connector { error, .. } = self else { return None };
        Some(match error {
            ConnectorError::Auth(_) => "auth",
            ConnectorError::RateLimited(_) => "rate-limited",
            ConnectorError::Timeout(_) => "timeout",
            ConnectorError::Network(_) => "network",
            ConnectorError::NotFound(_) => "not-found",
            ConnectorError::Api(_) => "api",
            ConnectorError::InvalidConfig(_) => "invalid-config",
            ConnectorError::Parse(_) => "parse",
            ConnectorError::Quota(_) => "quota",
            ConnectorError::CircuitOpen(_) => "circuit-open",
            ConnectorError::Denied(_) => "denied",
            ConnectorError::Unsupported(_) => "unsupported",
            ConnectorError::Other(_) => "other",
        })
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
        if let Some(limit) = e.downcast_ref::<crate::capabilities::limits::LimitExceeded>() {
            return GuestError::Limit { connector, call, detail: limit.to_string() };
        }
        if let Some(full) = e.downcast_ref::<crate::capabilities::state::StateFull>() {
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

/// `e` with each of its texts cut to [`MAX_TEXT`](crate::untrusted::MAX_TEXT) bytes:
/// a connector's error is copied into the log, the report and the store, so a
/// 100 MiB message must not be.
pub fn capped(e: ConnectorError) -> ConnectorError {
    use crate::untrusted::{MAX_TEXT, capped as cut};
    let cap = |m: String| if m.len() > MAX_TEXT { cut(&m, MAX_TEXT) } else { m };
    match e {
        ConnectorError::Auth(m) => ConnectorError::Auth(cap(m)),
        ConnectorError::RateLimited(mut r) => {
            r.message = cap(r.message);
            ConnectorError::RateLimited(r)
        }
        ConnectorError::Timeout(m) => ConnectorError::Timeout(cap(m)),
        ConnectorError::Network(m) => ConnectorError::Network(cap(m)),
        ConnectorError::NotFound(m) => ConnectorError::NotFound(cap(m)),
        ConnectorError::Api(mut a) => {
            a.message = cap(a.message);
            ConnectorError::Api(a)
        }
        ConnectorError::InvalidConfig(m) => ConnectorError::InvalidConfig(cap(m)),
        ConnectorError::Parse(m) => ConnectorError::Parse(cap(m)),
        ConnectorError::Quota(m) => ConnectorError::Quota(cap(m)),
        ConnectorError::CircuitOpen(mut r) => {
            r.message = cap(r.message);
            ConnectorError::CircuitOpen(r)
        }
        ConnectorError::Denied(m) => ConnectorError::Denied(cap(m)),
        ConnectorError::Unsupported(m) => ConnectorError::Unsupported(cap(m)),
        ConnectorError::Other(m) => ConnectorError::Other(cap(m)),
    }
}

/// One line describing a `connector-error`: its case and its message.
pub fn describe(e: &ConnectorError) -> String {
    match e {
        ConnectorError::Auth(m) => format!("auth: {m}"),
        ConnectorError::RateLimited(r) => match r.retry_after_ms {
            Some(ms) => format!("rate-limited (retry after {ms} ms): {}", r.message),
            None => format!("rate-limited: {}", r.message),
        },
        ConnectorError::Timeout(m) => format!("timeout: {m}"),
        ConnectorError::Network(m) => format!("network: {m}"),
        ConnectorError::NotFound(m) => format!("not-found: {m}"),
        ConnectorError::Api(a) => format!("api error {}: {}", a.status, a.message),
        ConnectorError::InvalidConfig(m) => format!("invalid-config: {m}"),
        ConnectorError::Parse(m) => format!("parse: {m}"),
        ConnectorError::Quota(m) => format!("quota: {m}"),
        ConnectorError::CircuitOpen(r) => match r.retry_after_ms {
            Some(ms) => format!("circuit-open (retry after {ms} ms): {}", r.message),
            None => format!("circuit-open: {}", r.message),
        },
        ConnectorError::Denied(m) => format!("denied: {m}"),
        ConnectorError::Unsupported(m) => format!("unsupported: {m}"),
        ConnectorError::Other(m) => format!("other: {m}"),
    }
}
