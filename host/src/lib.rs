//! The connector host: runs untrusted, partner-supplied data connectors compiled to
//! WebAssembly components, and owns everything that must be trusted.
//!
//! A connector is a component built against the `partner:connector@1.0.0` or `@1.1.0`
//! WIT package (`wit/v1`, `wit/v1.1`), carrying the capabilities it needs
//! ([`declaration`]). The host loads it into one process-wide engine and gives each
//! run a fresh sandbox ([`runtime`], the edge where WIT types become the host's own,
//! [`contract`]) with only the capabilities its [`manifest`] grants
//! ([`runtime::capabilities`]), pages through its records ([`ingest`]), and seals every record
//! into a hashed, schema-validated envelope ([`envelope`]) that it writes to a
//! [`sink`] or the [`store`]. The `host` binary ([`cli`]) is a thin layer over this
//! library.

pub mod check;
pub mod cli;
pub mod contract;
pub mod declaration;
pub mod egress;
pub mod envelope;
pub mod evidence;
pub mod faults;
pub mod files;
pub mod ingest;
pub mod inspect;
pub mod lifecycle;
pub mod lookup;
pub mod manifest;
pub mod redeliver;
pub mod report;
pub mod resilience;
pub mod runtime;
pub mod secrets;
pub mod serve;
pub mod sink;
pub mod store;
pub mod timestamp;
pub mod untrusted;
