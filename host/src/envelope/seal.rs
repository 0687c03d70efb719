//! Turning a guest's envelope draft into a sealed, validated envelope.
//!
//! Per record the host parses `raw` once, writing its RFC 8785 canonical form as it
//! goes; hashes those bytes; and writes them as the envelope's `raw`. Validation
//! checks what the guest supplied (record id, source instance, provenance, ACL tags,
//! the type of `raw`) against the envelope schema's own definitions of those fields,
//! for every record. What the host built itself (version, source, time, hash,
//! metadata) does not change between records of a page, so the first envelope of
//! each page is also checked whole against the full schema.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::canonical::{self, Kind};
use super::schema;
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
    collected_at: String,
    /// Whether the next envelope is checked whole against the full schema.
    check_whole: bool,
    canon: Vec<u8>,
    /// The guest-supplied part of the current envelope, for validation; its strings
    /// are overwritten in place from record to record rather than reallocated.
    part: Value,
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
        // Compile both schemas now rather than inside the first page's timing.
        schema::envelope();
        schema::draft_part();
        Sealer {
            source_json: serde_json::to_vec(source).expect("writing to a Vec cannot fail"),
            stamp,
            stamp_json,
            collected_at: now_rfc3339(),
            check_whole: true,
            canon: Vec::with_capacity(4096),
            part: json!({
                "source_instance": "",
                "record_id": "",
                "provenance": { "uri": "" },
                "raw": {},
            }),
        }
    }

    /// Sets `collected_at` for the envelopes sealed from now on (once per page: the
    /// time the page was fetched).
    pub fn set_collected_at(&mut self, at: String) {
        self.collected_at = at;
        self.check_whole = true;
    }

    /// Seals `draft` and appends the envelope as one line of JSON (with its newline)
    /// to `out`; returns its `raw_sha256` (lowercase hex). On refusal `out` is left
    /// as it was.
    pub fn seal_into(&mut self, draft: &EnvelopeDraft, out: &mut Vec<u8>) -> Result<[u8; 64], Rejection> {
        let reject = |reason: String| Rejection { record_id: quote(&draft.record_id), reason };

        self.canon.clear();
        let kind = canonical::canonicalize_str(&draft.raw, &mut self.canon)
            .map_err(|e| reject(format!("raw is not JSON: {e}")))?;
        let mut hash_hex = [0u8; 64];
        hex::encode_to_slice(Sha256::digest(&self.canon), &mut hash_hex).expect("64 hex digits for 32 bytes");
        let hash = std::str::from_utf8(&hash_hex).expect("hex is ASCII");

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

        set_guest_part(&mut self.part, draft, kind, &self.canon);
        let violations = schema::violations_of(schema::draft_part(), &self.part);
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

        if self.check_whole {
            let whole: Value = serde_json::from_slice(&out[start..]).expect("the host writes JSON");
            let violations = schema::violations(&whole);
            if !violations.is_empty() {
                out.truncate(start);
                return Err(reject(format!("envelope does not match the schema: {}", violations.join("; "))));
            }
            self.check_whole = false;
        }
        Ok(hash_hex)
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

/// Sets `part` to the guest-supplied fields of `d`'s envelope, for validation. An
/// object or string `raw` stands in by type only (the schema constrains nothing
/// deeper); any other is put in whole, so that the schema's message quotes it.
fn set_guest_part(part: &mut Value, d: &EnvelopeDraft, raw: Kind, canonical: &[u8]) {
    let part = part.as_object_mut().expect("the guest part is an object");
    set_str(part, "source_instance", &d.source_instance);
    set_str(part, "record_id", &d.record_id);
    let provenance =
        part.entry("provenance").or_insert_with(|| json!({})).as_object_mut().expect("provenance is an object");
    set_str(provenance, "uri", &d.provenance.uri);
    let optional = [
        ("etag", &d.provenance.etag),
        ("last_modified", &d.provenance.last_modified),
        ("author", &d.provenance.author),
    ];
    for (key, value) in optional {
        match value {
            Some(v) => set_str(provenance, key, v),
            None => {
                provenance.remove(key);
            }
        }
    }
    if d.acl_tags.is_empty() {
        part.remove("acl_tags");
    } else {
        part.insert("acl_tags".into(), d.acl_tags.iter().cloned().map(Value::String).collect());
    }
    let raw = match raw {
        Kind::Object => Value::Object(Map::new()),
        Kind::String => Value::String(String::new()),
        _ => serde_json::from_slice(canonical).unwrap_or(Value::Null),
    };
    part.insert("raw".into(), raw);
}

/// Sets `map[key]` to the string `value`, reusing the string already there.
fn set_str(map: &mut Map<String, Value>, key: &str, value: &str) {
    match map.get_mut(key) {
        Some(Value::String(s)) => {
            s.clear();
            s.push_str(value);
        }
        _ => {
            map.insert(key.into(), Value::String(value.to_string()));
        }
    }
}

/// A draft as JSON, kept with a dead letter so that it can be sealed again later.
pub fn draft_to_json(d: &EnvelopeDraft) -> String {
    json!({
        "record_id": d.record_id,
        "record_type": record_type(d.record_type),
        "source_instance": d.source_instance,
        "provenance": {
            "uri": d.provenance.uri,
            "etag": d.provenance.etag,
            "last_modified": d.provenance.last_modified,
            "author": d.provenance.author,
        },
        "acl_tags": d.acl_tags,
        "raw": d.raw,
        "metadata": d.metadata,
    })
    .to_string()
}

/// A draft kept by [`draft_to_json`], read back.
pub fn draft_from_json(text: &str) -> Result<EnvelopeDraft, String> {
    use crate::bindings::v1::partner::connector::types::Provenance;
    let v: Value = serde_json::from_str(text).map_err(|e| format!("the kept draft is not JSON: {e}"))?;
    let s = |v: &Value, key: &str| v[key].as_str().map(str::to_string);
    let record_type = match v["record_type"].as_str() {
        Some("Document") => RecordType::Document,
        Some("Event") => RecordType::Event,
        Some("Entity") => RecordType::Entity,
        Some("Claim") => RecordType::Claim,
        Some("Metric") => RecordType::Metric,
        other => return Err(format!("the kept draft has record_type {other:?}")),
    };
    let p = &v["provenance"];
    Ok(EnvelopeDraft {
        record_id: s(&v, "record_id").unwrap_or_default(),
        record_type,
        source_instance: s(&v, "source_instance").unwrap_or_default(),
        provenance: Provenance {
            uri: s(p, "uri").unwrap_or_default(),
            etag: s(p, "etag"),
            last_modified: s(p, "last_modified"),
            author: s(p, "author"),
        },
        acl_tags: v["acl_tags"]
            .as_array()
            .map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_string)).collect())
            .unwrap_or_default(),
        raw: s(&v, "raw").unwrap_or_default(),
        metadata: s(&v, "metadata"),
    })
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
