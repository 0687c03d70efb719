//! The guest side of the connector contract (`partner:connector@1.0.0`).
//!
//! A connector implements [`Connector`] on a type of its own and exports it with
//! [`export!`]:
//!
//! ```ignore
//! struct MyConnector;
//! impl connector_sdk::Connector for MyConnector { /* ... */ }
//! connector_sdk::export!(MyConnector);
//! ```
//!
//! The SDK implements the contract's `list-drafts` export from the connector's own
//! `list-records` and `to-envelopes`, so that the host's ingest crosses the sandbox
//! boundary once per page instead of three times.
//!
//! [`settings`] reads a connector's configuration once per run, with the same rules
//! (trimmed values, empty means unset) and error wording in every connector.
//!
//! For connectors that read HTTP APIs, [`http_util`] parses `Link` headers and builds
//! URLs, and [`fetch`] sends GET requests through the host, keeping the ETag of a
//! pass's first page in state.

wit_bindgen::generate!({
    world: "connector",
    path: "../../wit/v1",
    pub_export_macro: true,
    default_bindings_module: "connector_sdk",
    export_macro_name: "export",
});

pub mod fetch;
pub mod http_util;
pub mod settings;

pub use exports::partner::connector::source::Guest;
pub use partner::connector::types::{
    ApiError, ConnectorError, DraftPage, EnvelopeDraft, Page, PageRequest, Provenance, RecordType, RetryInfo,
    SkippedRecord, SourceRecord,
};

/// The host's capabilities, as a connector calls them.
pub mod host {
    pub use crate::partner::connector::config;
    pub use crate::partner::connector::http;
    pub use crate::partner::connector::log;
    pub use crate::partner::connector::state;

    /// Logs a line at `info` level into the host's log.
    pub fn info(message: &str) {
        log::log(log::Level::Info, message);
    }

    /// Logs a line at `warn` level into the host's log.
    pub fn warn(message: &str) {
        log::log(log::Level::Warn, message);
    }
}

/// A data connector. Every function is an associated function: the host makes a
/// fresh instance for every run, so a connector may keep what it learns during a run
/// (an open file, a parsed index) in statics, and nothing survives into the next run.
pub trait Connector {
    /// The canonical name of the source this connector reads.
    fn source_name() -> String;

    /// Lists one page of records.
    fn list_records(req: PageRequest) -> Result<Page, ConnectorError>;

    /// Fetches one record by id. The default says the connector does not offer it.
    fn get_record(id: String) -> Result<SourceRecord, ConnectorError> {
        let _ = id;
        Err(ConnectorError::Unsupported(format!("connector `{}` does not offer get-record", Self::source_name())))
    }

    /// Describes records as envelope drafts, one per record, in order.
    fn to_envelopes(records: Vec<SourceRecord>) -> Result<Vec<EnvelopeDraft>, ConnectorError>;

    /// Lists one page and describes it in one call. Override only to make it faster;
    /// it must return what the default returns.
    fn list_drafts(req: PageRequest) -> Result<DraftPage, ConnectorError> {
        let page = Self::list_records(req)?;
        let drafts = Self::to_envelopes(page.records)?;
        Ok(DraftPage { drafts, next_cursor: page.next_cursor, skipped: page.skipped })
    }
}

impl<T: Connector> Guest for T {
    fn source_name() -> String {
        T::source_name()
    }
    fn list_records(req: PageRequest) -> Result<Page, ConnectorError> {
        T::list_records(req)
    }
    fn get_record(id: String) -> Result<SourceRecord, ConnectorError> {
        T::get_record(id)
    }
    fn to_envelopes(records: Vec<SourceRecord>) -> Result<Vec<EnvelopeDraft>, ConnectorError> {
        T::to_envelopes(records)
    }
    fn list_drafts(req: PageRequest) -> Result<DraftPage, ConnectorError> {
        T::list_drafts(req)
    }
}
