//! The connector host: runs untrusted, partner-supplied data connectors compiled to
//! WebAssembly components, and owns everything that must be trusted.
//!
//! A connector is a component built against the `partner:connector@1.0.0` WIT
//! package (`wit/v1`). The host loads it ([`component`]) into one process-wide
//! [`engine`], gives each run a fresh sandbox with only the capabilities its
//! [`manifest`] grants ([`capabilities`]), pages through its records ([`ingest`]), and
//! seals every record into a hashed, schema-validated envelope ([`envelope`]) that it
//! writes to a [`sink`]. The `host` binary ([`cli`]) is a thin layer over this library.

pub mod bindings;
pub mod capabilities;
pub mod cli;
pub mod component;
pub mod egress;
pub mod engine;
pub mod envelope;
pub mod files;
pub mod guest_error;
pub mod ingest;
pub mod inspect;
pub mod lifecycle;
pub mod lookup;
pub mod manifest;
pub mod replay;
pub mod report;
pub mod resilience;
pub mod sandbox;
pub mod secrets;
pub mod serve;
pub mod sink;
pub mod store;
pub mod untrusted;
pub mod validate;
