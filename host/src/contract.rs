//! The host's own types for what crosses the connector contract: a page request, a
//! page of drafts, a skipped record, the connector error, and (in [`http`]) an HTTP
//! request and response.
//!
//! The WIT bindings (`runtime::bindings`) stop at the edge: the sandbox converts a
//! guest's exports into these types (`runtime::v1`), and the capabilities convert
//! the imports. Everything behind the edge (ingest, sealing, egress, the store)
//! speaks only these, so a second version of the WIT package is a second set of
//! conversions, not a change to every module.

pub mod http;

use serde::{Deserialize, Serialize};

/// What kind of thing a record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordType {
    /// A document (the default of most connectors).
    Document,
    /// Something that happened.
    Event,
    /// A thing, person or place.
    Entity,
    /// A claim, such as a fact-check.
    Claim,
    /// A measurement.
    Metric,
}

impl RecordType {
    /// The envelope's `record_type` value.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::Document => "Document",
            RecordType::Event => "Event",
            RecordType::Entity => "Entity",
            RecordType::Claim => "Claim",
            RecordType::Metric => "Metric",
        }
    }

    /// The record type with envelope value `text`.
    pub fn parse(text: &str) -> Option<RecordType> {
        Some(match text {
            "Document" => RecordType::Document,
            "Event" => RecordType::Event,
            "Entity" => RecordType::Entity,
            "Claim" => RecordType::Claim,
            "Metric" => RecordType::Metric,
            _ => return None,
        })
    }
}

/// Where a record came from, as the connector says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provenance {
    /// The record's URI at the source.
    pub uri: String,
    /// The source's version tag of it.
    pub etag: Option<String>,
    /// When the source last changed it (RFC 3339).
    pub last_modified: Option<String>,
    /// Who wrote it.
    pub author: Option<String>,
}

/// A record as the source gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceRecord {
    /// Its id at the source.
    pub id: String,
    /// Its content, as the source sent it.
    pub raw: String,
    /// Where it came from.
    pub provenance: Provenance,
}

/// Which page to list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// Where the page starts; none for the first page.
    pub cursor: Option<String>,
    /// How many records at most.
    pub limit: Option<u32>,
}

/// A record the connector could not read, reported instead of failing the page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// Where it was (`line 7`, `item 3 of page 2`).
    pub locator: String,
    /// Why it was skipped.
    pub reason: String,
}

/// A record the connector drafted into an envelope; the host seals it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Draft {
    /// The record's id at the source.
    pub record_id: String,
    /// What kind of record it is.
    pub record_type: RecordType,
    /// Which instance of the source it is from.
    pub source_instance: String,
    /// Where it came from.
    pub provenance: Provenance,
    /// Access tags.
    pub acl_tags: Vec<String>,
    /// The record's content, JSON text.
    pub raw: String,
    /// The connector's metadata, JSON object text.
    pub metadata: Option<String>,
}

/// One piece of evidence, as an evidence connector returned it (`search`, `fetch`).
/// Nothing in it is trusted: [`crate::evidence`] checks it before sealing.
#[derive(Clone, Debug, PartialEq)]
pub struct Evidence {
    /// Its id at the source; `fetch` takes it back.
    pub id: String,
    /// Its title.
    pub title: String,
    /// The text that serves as evidence.
    pub content: String,
    /// Where a person reads it.
    pub url: String,
    /// Who wrote it.
    pub author: Option<String>,
    /// When it was published or last changed, as the connector wrote it (RFC 3339).
    pub created_at: Option<String>,
    /// The connector's confidence that it matches, claimed to be in [0, 1].
    pub confidence: f64,
    /// The source's authority, claimed to be in [0, 1].
    pub authority: f64,
    /// The connector's metadata, JSON object text.
    pub metadata: Option<String>,
}

/// One page of drafts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DraftPage {
    /// The drafts, in the source's order.
    pub drafts: Vec<Draft>,
    /// Where the next page starts; none at the end of the pass.
    pub next_cursor: Option<String>,
    /// Records that could not be read.
    pub skipped: Vec<Skipped>,
}

/// The case of a connector error, named as the WIT names it (`rate-limited`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCase {
    /// The credentials were refused.
    Auth,
    /// The source asked to slow down.
    RateLimited,
    /// A request took too long.
    Timeout,
    /// The network failed.
    Network,
    /// What was asked for does not exist.
    NotFound,
    /// The source answered with an error status.
    Api,
    /// The connector's configuration is wrong.
    InvalidConfig,
    /// The source's answer could not be read.
    Parse,
    /// A quota is used up.
    Quota,
    /// The host's circuit breaker is open for that upstream.
    CircuitOpen,
    /// The host refused (not granted).
    Denied,
    /// The connector does not do that.
    Unsupported,
    /// Anything else (and, read from a recording, a case this host does not know).
    #[serde(other)]
    Other,
}

impl ErrorCase {
    /// Every case, in the WIT's order.
    pub const ALL: [ErrorCase; 13] = [
        ErrorCase::Auth,
        ErrorCase::RateLimited,
        ErrorCase::Timeout,
        ErrorCase::Network,
        ErrorCase::NotFound,
        ErrorCase::Api,
        ErrorCase::InvalidConfig,
        ErrorCase::Parse,
        ErrorCase::Quota,
        ErrorCase::CircuitOpen,
        ErrorCase::Denied,
        ErrorCase::Unsupported,
        ErrorCase::Other,
    ];

    /// The case's name in the WIT (`rate-limited`), as reports and events carry it.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCase::Auth => "auth",
            ErrorCase::RateLimited => "rate-limited",
            ErrorCase::Timeout => "timeout",
            ErrorCase::Network => "network",
            ErrorCase::NotFound => "not-found",
            ErrorCase::Api => "api",
            ErrorCase::InvalidConfig => "invalid-config",
            ErrorCase::Parse => "parse",
            ErrorCase::Quota => "quota",
            ErrorCase::CircuitOpen => "circuit-open",
            ErrorCase::Denied => "denied",
            ErrorCase::Unsupported => "unsupported",
            ErrorCase::Other => "other",
        }
    }

    /// Whether the case carries a wait (`retry-after-ms`).
    pub fn has_retry_after(self) -> bool {
        matches!(self, ErrorCase::RateLimited | ErrorCase::CircuitOpen)
    }

    /// Whether a failure of this case comes from the way to the source (credentials,
    /// limits, the network), which a connector's cursor or config cannot cause.
    pub fn is_transport(self) -> bool {
        matches!(
            self,
            ErrorCase::Auth
                | ErrorCase::RateLimited
                | ErrorCase::Timeout
                | ErrorCase::Network
                | ErrorCase::Quota
                | ErrorCase::CircuitOpen
        )
    }
}

impl std::fmt::Display for ErrorCase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error a connector returned, or the host returned to a connector's request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectorError {
    /// Which case.
    pub case: ErrorCase,
    /// What went wrong.
    pub message: String,
    /// For `rate-limited` and `circuit-open`: how long to wait, if known.
    pub retry_after_ms: Option<u64>,
    /// For `api`: the HTTP status.
    pub status: Option<u16>,
}

impl ConnectorError {
    /// An error of `case` (not `api`, which has a status: [`ConnectorError::api`]).
    pub fn new(case: ErrorCase, message: impl Into<String>) -> ConnectorError {
        ConnectorError { case, message: message.into(), retry_after_ms: None, status: None }
    }

    /// An `api` error with HTTP status `status`.
    pub fn api(status: u16, message: impl Into<String>) -> ConnectorError {
        ConnectorError { case: ErrorCase::Api, message: message.into(), retry_after_ms: None, status: Some(status) }
    }

    /// A `rate-limited` or `circuit-open` error with its wait.
    pub fn wait(case: ErrorCase, retry_after_ms: Option<u64>, message: impl Into<String>) -> ConnectorError {
        ConnectorError { case, message: message.into(), retry_after_ms, status: None }
    }

    /// The error with its message cut to [`MAX_TEXT`](crate::untrusted::MAX_TEXT)
    /// bytes: a connector's error is copied into the log, the report and the store,
    /// so a 100 MiB message must not be.
    pub fn capped(mut self) -> ConnectorError {
        use crate::untrusted::{MAX_TEXT, capped};
        if self.message.len() > MAX_TEXT {
            self.message = capped(&self.message, MAX_TEXT);
        }
        self
    }
}

/// One line: the case and the message (`rate-limited (retry after 500 ms): slow down`).
impl std::fmt::Display for ConnectorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.case, self.retry_after_ms, self.status) {
            (ErrorCase::Api, _, status) => write!(f, "api error {}: {}", status.unwrap_or(0), self.message),
            (case, Some(ms), _) if case.has_retry_after() => {
                write!(f, "{case} (retry after {ms} ms): {}", self.message)
            }
            (case, _, _) => write!(f, "{case}: {}", self.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_are_named_as_the_wit_names_them_and_round_trip_through_serde() {
        for case in ErrorCase::ALL {
            let json = serde_json::to_string(&case).unwrap();
            assert_eq!(json, format!("\"{}\"", case.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCase>(&json).unwrap(), case);
        }
        assert_eq!(serde_json::from_str::<ErrorCase>("\"teapot\"").unwrap(), ErrorCase::Other);
    }

    #[test]
    fn one_line_per_error() {
        assert_eq!(ConnectorError::new(ErrorCase::Auth, "no").to_string(), "auth: no");
        assert_eq!(ConnectorError::api(503, "down").to_string(), "api error 503: down");
        assert_eq!(
            ConnectorError::wait(ErrorCase::RateLimited, Some(500), "slow").to_string(),
            "rate-limited (retry after 500 ms): slow"
        );
        assert_eq!(ConnectorError::wait(ErrorCase::CircuitOpen, None, "open").to_string(), "circuit-open: open");
    }

    #[test]
    fn a_long_message_is_capped() {
        let e = ConnectorError::new(ErrorCase::Other, "x".repeat(crate::untrusted::MAX_TEXT * 3)).capped();
        assert!(e.message.len() <= crate::untrusted::MAX_TEXT, "{}", e.message.len());
    }
}
