//! The envelope's JSON Schema, compiled once per process.

use std::sync::OnceLock;

use serde_json::Value;

/// The text of `schemas/connector_envelope.schema.json`, built into the host.
pub const ENVELOPE_SCHEMA: &str = include_str!("../../../schemas/connector_envelope.schema.json");

/// The compiled envelope schema.
pub fn envelope() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let schema: Value = serde_json::from_str(ENVELOPE_SCHEMA).expect("the envelope schema is JSON");
        jsonschema::validator_for(&schema).expect("the envelope schema compiles")
    })
}

/// Every way `value` breaks the envelope schema, each naming the field
/// (`/provenance/uri: "x" does not match ...`); empty when it is valid.
pub fn violations(value: &Value) -> Vec<String> {
    let validator = envelope();
    if validator.is_valid(value) {
        return Vec::new();
    }
    validator
        .iter_errors(value)
        .map(|e| {
            let at = e.instance_path().to_string();
            let at = if at.is_empty() { "/".to_string() } else { at };
            format!("{at}: {e}")
        })
        .collect()
}
