//! Sealing envelope drafts into record envelopes.
//!
//! The host owns an envelope's trust: it sets `envelope_version`, `source` (from the
//! manifest), `collected_at`, `hashes.raw_sha256` and `metadata.connector`, and never
//! takes them from the guest. `raw` is canonicalised once (RFC 8785), and those same
//! bytes are hashed and written, so anyone can recompute the hash with any JCS
//! library. Every envelope is checked against `schemas/connector_envelope.schema.json`.

pub mod canonical;
pub mod schema;
pub mod seal;
pub mod validate;

pub use seal::{ConnectorStamp, Rejection, Sealer};
