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

/// The envelope fields whose values come from the guest's draft.
pub const DRAFT_FIELDS: [&str; 5] = ["source_instance", "record_id", "provenance", "acl_tags", "raw"];

/// A schema for the part of an envelope that comes from the guest: the envelope
/// schema's own definitions of [`DRAFT_FIELDS`], cut out of the same file so the two
/// can never disagree.
pub fn draft_part() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let full: Value = serde_json::from_str(ENVELOPE_SCHEMA).expect("the envelope schema is JSON");
        let mut properties = serde_json::Map::new();
        for field in DRAFT_FIELDS {
            properties.insert(field.into(), full["properties"][field].clone());
        }
        let required: Vec<&Value> = full["required"]
            .as_array()
            .expect("the envelope schema lists required fields")
            .iter()
            .filter(|f| DRAFT_FIELDS.contains(&f.as_str().unwrap_or("")))
            .collect();
        let part = serde_json::json!({
            "$schema": full["$schema"],
            "$defs": full["$defs"],
            "type": "object",
            "required": required,
            "properties": properties,
            "additionalProperties": false,
        });
        jsonschema::validator_for(&part).expect("the draft part of the envelope schema compiles")
    })
}

/// Every way `value` breaks `validator`, each naming the field; empty when valid.
pub fn violations_of(validator: &jsonschema::Validator, value: &Value) -> Vec<String> {
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

/// Every way `value` breaks the envelope schema, each naming the field
/// (`/provenance/uri: "x" does not match ...`); empty when it is valid.
pub fn violations(value: &Value) -> Vec<String> {
    violations_of(envelope(), value)
}
