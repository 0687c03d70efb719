//! Turning a guest's envelope draft into a sealed, validated envelope.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::{canonical, schema};
use crate::bindings::v1::partner::connector::types::{EnvelopeDraft, RecordType};

/// Identifies the component that produced an envelope (`metadata.connector`).
#[derive(Clone, Debug)]
pub struct ConnectorStamp {
    /// The connector's name (from the manifest).
    pub name: String,
    /// The component's SHA-256, lowercase hex.
    pub digest: String,
    /// The WIT package and version it was built against.
    pub package: String,
}

/// A draft the host refused to seal, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Rejection {
    /// The draft's record id (possibly empty or cut short: it came from the guest).
    pub record_id: String,
    /// Why it was refused, naming the field.
    pub reason: String,
}

/// Seals drafts of one connector. Holds the host-owned parts of every envelope and
/// buffers it reuses from record to record.
pub struct Sealer {
    source_json: Vec<u8>,
    stamp: Value,
    stamp_json: Vec<u8>,
    source: String,
    collected_at: String,
    canon: Vec<u8>,
}

/// The longest record id quoted back in a rejection.
const QUOTE: usize = 200;

impl Sealer {
    /// A sealer for envelopes of `source`, produced by the component `stamp` names.
    pub fn new(source: &str, stamp: &ConnectorStamp) -> Sealer {
        let stamp = json!({
            "name": stamp.name,
            "digest": format!("sha256:{}", stamp.digest),
            "package": stamp.package,
        });
        let mut stamp_json = b"{\"connector\":".to_vec();
        serde_json::to_writer(&mut stamp_json, &stamp).expect("writing to a Vec cannot fail");
        stamp_json.push(b'}');
        Sealer {
            source_json: serde_json::to_vec(source).expect("writing to a Vec cannot fail"),
            stamp,
            stamp_json,
            source: source.to_string(),
            collected_at: now_rfc3339(),
            canon: Vec::with_capacity(4096),
        }
    }

    /// Sets `collected_at` for the envelopes sealed from now on (once per page: the
    /// time the page was fetched).
    pub fn set_collected_at(&mut self, at: String) {
        self.collected_at = at;
    }

    /// Seals `draft` and appends the envelope as one line of JSON (with its newline)
    /// to `out`. On refusal `out` is left as it was.
    pub fn seal_into(&mut self, draft: &EnvelopeDraft, out: &mut Vec<u8>) -> Result<(), Rejection> {
        let reject = |reason: String| Rejection { record_id: quote(&draft.record_id), reason };

        let raw: Value = serde_json::from_str(&draft.raw).map_err(|e| reject(format!("raw is not JSON: {e}")))?;
        self.canon.clear();
        canonical::write(&raw, &mut self.canon);
        let mut hash = [0u8; 64];
        hex::encode_to_slice(Sha256::digest(&self.canon), &mut hash).expect("64 hex digits for 32 bytes");
        let hash = std::str::from_utf8(&hash).expect("hex is ASCII");

        let metadata = match &draft.metadata {
            None => None,
            Some(text) => match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(mut map)) => {
                    // The host's stamp wins over anything the guest put there.
                    map.insert("connector".into(), self.stamp.clone());
                    Some(map)
                }
                Ok(_) => return Err(reject("metadata is not a JSON object".into())),
                Err(e) => return Err(reject(format!("metadata is not JSON: {e}"))),
            },
        };

        // Validate what the guest supplied, inside the envelope the host built. `raw`
        // and `metadata` stand in by type only: the schema constrains nothing deeper,
        // and the host wrote their contents itself from parsed JSON.
        let stub = match &raw {
            Value::Object(_) => Value::Object(Map::new()),
            Value::String(_) => Value::String(String::new()),
            other => other.clone(),
        };
        let check = self.skeleton(draft, hash, stub);
        let violations = schema::violations(&check);
        if !violations.is_empty() {
            return Err(reject(format!("envelope does not match the schema: {}", violations.join("; "))));
        }

        let start = out.len();
        self.write(draft, hash, out);
        out.extend_from_slice(b",\"metadata\":");
        match metadata {
            None => out.extend_from_slice(&self.stamp_json),
            Some(map) => serde_json::to_writer(&mut *out, &map).expect("writing to a Vec cannot fail"),
        }
        out.extend_from_slice(b"}\n");
        debug_assert!(serde_json::from_slice::<Value>(&out[start..]).is_ok());
        Ok(())
    }

    /// The envelope as a value, with `raw` replaced by `raw_stub`, for validation.
    fn skeleton(&self, d: &EnvelopeDraft, hash: &str, raw_stub: Value) -> Value {
        let mut provenance = Map::new();
        provenance.insert("uri".into(), Value::String(d.provenance.uri.clone()));
        let optional = [
            ("etag", &d.provenance.etag),
            ("last_modified", &d.provenance.last_modified),
            ("author", &d.provenance.author),
        ];
        for (key, value) in optional {
            if let Some(v) = value {
                provenance.insert(key.into(), Value::String(v.clone()));
            }
        }
        let mut env = Map::new();
        env.insert("envelope_version".into(), "1.0".into());
        env.insert("source".into(), Value::String(self.source.clone()));
        env.insert("source_instance".into(), Value::String(d.source_instance.clone()));
        env.insert("collected_at".into(), Value::String(self.collected_at.clone()));
        env.insert("record_id".into(), Value::String(d.record_id.clone()));
        env.insert("record_type".into(), record_type(d.record_type).into());
        env.insert("provenance".into(), Value::Object(provenance));
        env.insert("hashes".into(), json!({ "raw_sha256": hash }));
        if !d.acl_tags.is_empty() {
            env.insert("acl_tags".into(), d.acl_tags.iter().cloned().map(Value::String).collect());
        }
        env.insert("raw".into(), raw_stub);
        env.insert("metadata".into(), json!({ "connector": self.stamp }));
        Value::Object(env)
    }

    /// Writes the envelope up to and including `raw`, in the seed's field order.
    fn write(&self, d: &EnvelopeDraft, hash: &str, out: &mut Vec<u8>) {
        let s = |out: &mut Vec<u8>, v: &str| serde_json::to_writer(&mut *out, v).expect("writing to a Vec cannot fail");
        out.extend_from_slice(b"{\"envelope_version\":\"1.0\",\"source\":");
        out.extend_from_slice(&self.source_json);
        out.extend_from_slice(b",\"source_instance\":");
        s(out, &d.source_instance);
        out.extend_from_slice(b",\"collected_at\":");
        s(out, &self.collected_at);
        out.extend_from_slice(b",\"record_id\":");
        s(out, &d.record_id);
        out.extend_from_slice(b",\"record_type\":\"");
        out.extend_from_slice(record_type(d.record_type).as_bytes());
        out.extend_from_slice(b"\",\"provenance\":{\"uri\":");
        s(out, &d.provenance.uri);
        let optional = [
            (&b",\"etag\":"[..], &d.provenance.etag),
            (&b",\"last_modified\":"[..], &d.provenance.last_modified),
            (&b",\"author\":"[..], &d.provenance.author),
        ];
        for (key, value) in optional {
            if let Some(v) = value {
                out.extend_from_slice(key);
                s(out, v);
            }
        }
        out.extend_from_slice(b"},\"hashes\":{\"raw_sha256\":\"");
        out.extend_from_slice(hash.as_bytes());
        out.extend_from_slice(b"\"}");
        if !d.acl_tags.is_empty() {
            out.extend_from_slice(b",\"acl_tags\":");
            serde_json::to_writer(&mut *out, &d.acl_tags).expect("writing to a Vec cannot fail");
        }
        out.extend_from_slice(b",\"raw\":");
        out.extend_from_slice(&self.canon);
    }
}

/// The envelope's spelling of a record type.
pub fn record_type(t: RecordType) -> &'static str {
    match t {
        RecordType::Document => "Document",
        RecordType::Event => "Event",
        RecordType::Entity => "Entity",
        RecordType::Claim => "Claim",
        RecordType::Metric => "Metric",
    }
}

/// The current time as RFC 3339 UTC with milliseconds (`2026-11-22T10:00:00.123Z`).
pub fn now_rfc3339() -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    time::OffsetDateTime::now_utc().format(&format).expect("formatting the current time")
}

fn quote(id: &str) -> String {
    match id.char_indices().nth(QUOTE) {
        Some((at, _)) => format!("{}…", &id[..at]),
        None => id.to_string(),
    }
}
